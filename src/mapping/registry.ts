/**
 * Mappings are data: every folder under the mappings directory (MAPPINGS_DIR, default `<project>/mappings`) holds
 * `manifest.json` (name, version, input format) and `mapping.jsonata` (a JSONata expression over the parsed message).
 * All are compiled once at start; the name, version and a hash of the expression are recorded on every message
 * they map. Several versions of one mapping (same name, other version, each in its own folder) are loaded side by
 * side; which one maps new messages is the installation-wide selection (current.ts), by default the highest version.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { projectPath } from '../platform/paths.js';
import jsonata from 'jsonata';
import type { ResourceIds } from './resource-ids.js';
import { mappingBindings } from './functions.js';

/** `<project>/mappings`, from src/mapping or dist/mapping alike. */
export const DEFAULT_MAPPINGS_DIR = projectPath('mappings');

interface MappingManifest {
  name: string;
  version: string;
  description?: string;
  /** Message source this mapping serves ('henvisning', 'pridok'). */
  source: string;
  /** Namespace URI (XML) or format id the mapping is chosen by; several when one mapping serves closely related versions. */
  format: string | string[];
}

export interface MappingRef {
  name: string;
  version: string;
  sha256: string;
}

class MappingError extends Error {
  constructor(
    readonly mapping: MappingRef,
    message: string,
  ) {
    super(message);
    this.name = 'MappingError';
  }
}

export class CompiledMapping {
  constructor(
    readonly manifest: MappingManifest,
    readonly ref: MappingRef,
    private readonly expression: jsonata.Expression,
    private readonly bindings: Record<string, unknown>,
    /** The folder it was read from (manifest, expression, examples). */
    readonly folder: string,
  ) {}

  /**
   * Runs the mapping; `vars` become `$name` variables next to the mapping functions. `ids`: the deterministic ids of
   * the tenant the output is for (`$id`); without it, the registry's own (golden examples, previews).
   */
  async evaluate(input: unknown, vars: Record<string, unknown> = {}, ids?: ResourceIds): Promise<unknown> {
    try {
      const tenantIds = ids ? { id: (resourceType: string, naturalKey: string) => ids.id(resourceType, String(naturalKey)) } : {};
      return await this.expression.evaluate(input, { ...this.bindings, ...tenantIds, ...vars });
    } catch (err) {
      const e = err as { message?: string; code?: string; position?: number };
      throw new MappingError(this.ref, `Mapping ${this.ref.name} ${this.ref.version} failed: ${e.code ? `${e.code} ` : ''}${e.message ?? String(err)}`);
    }
  }
}

/** Versions compared part by part, numerically where both parts are numbers ("1.10.0" after "1.9.2"). */
function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const c = /^\d+$/.test(x) && /^\d+$/.test(y) ? Number(x) - Number(y) : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/** The version chosen per mapping name (installation-wide, see current.ts); names not in it use their default. */
export type MappingSelection = Readonly<Record<string, string>>;

export class MappingRegistry {
  /** source + format → the mapping name serving it (all its versions serve the same formats' source). */
  private readonly nameByFormat = new Map<string, string>();
  /** name → its versions, highest first. */
  private readonly byName = new Map<string, CompiledMapping[]>();

  constructor(
    readonly dir: string,
    ids: ResourceIds,
  ) {
    const bindings = mappingBindings(ids);
    const folders = fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()) : [];
    for (const f of folders.sort((a, b) => a.name.localeCompare(b.name))) {
      const folder = path.join(dir, f.name);
      const manifestFile = path.join(folder, 'manifest.json');
      const exprFile = path.join(folder, 'mapping.jsonata');
      if (!fs.existsSync(manifestFile) || !fs.existsSync(exprFile)) continue;
      const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as MappingManifest;
      for (const k of ['name', 'version', 'source'] as const) {
        if (typeof manifest[k] !== 'string' || manifest[k] === '') throw new Error(`Mapping ${manifestFile}: "${k}" is required`);
      }
      const formats = Array.isArray(manifest.format) ? manifest.format : [manifest.format];
      if (formats.length === 0 || formats.some((f) => typeof f !== 'string' || f === '')) throw new Error(`Mapping ${manifestFile}: "format" is required`);
      const text = fs.readFileSync(exprFile, 'utf8');
      let expression: jsonata.Expression;
      try {
        expression = jsonata(text);
      } catch (err) {
        const e = err as { message?: string; position?: number };
        throw new Error(`Mapping ${exprFile} does not compile at position ${e.position}: ${e.message}`);
      }
      const ref: MappingRef = { name: manifest.name, version: manifest.version, sha256: createHash('sha256').update(text).digest('hex') };
      const compiled = new CompiledMapping(manifest, ref, expression, bindings, folder);
      const versions = this.byName.get(manifest.name) ?? [];
      if (versions.some((v) => v.ref.version === manifest.version)) throw new Error(`Mapping ${manifest.name} version ${manifest.version} is in two folders`);
      if (versions.length > 0 && versions[0].manifest.source !== manifest.source) throw new Error(`Mapping ${manifest.name}: its versions name different sources`);
      for (const format of formats) {
        const key = `${manifest.source}\u0000${format}`;
        const other = this.nameByFormat.get(key);
        if (other !== undefined && other !== manifest.name) throw new Error(`Two mappings for ${manifest.source} format ${format}`);
        this.nameByFormat.set(key, manifest.name);
      }
      this.byName.set(manifest.name, [...versions, compiled].sort((a, b) => compareVersions(b.ref.version, a.ref.version)));
    }
  }

  /**
   * The mapping for a source and format (namespace URI, FormatId) in the version `selection` names for it, else its
   * default (highest) version. `missing`: the selected version is not installed here (the message is not mapped
   * rather than mapped with another version than the one chosen).
   */
  forFormat(source: string, format: string, selection: MappingSelection = {}): CompiledMapping | { missing: string } | undefined {
    const name = this.nameByFormat.get(`${source}\u0000${format}`);
    if (name === undefined) return undefined;
    const version = selection[name];
    if (version === undefined) return this.byName.get(name)![0];
    return this.byVersion(name, version) ?? { missing: `Mapping ${name} version ${version} is selected as current but not installed in this engine (MAPPINGS_DIR)` };
  }

  /** The default (highest) version of a mapping. */
  byMappingName(name: string): CompiledMapping | undefined {
    return this.byName.get(name)?.[0];
  }

  byVersion(name: string, version: string): CompiledMapping | undefined {
    return this.byName.get(name)?.find((m) => m.ref.version === version);
  }

  /** Every installed version of every mapping (by name, highest version first). */
  list(): MappingRef[] {
    return [...this.byName.keys()].sort().flatMap((n) => this.byName.get(n)!.map((m) => m.ref));
  }
}
