/**
 * Mappings are data: every folder under the mappings directory (MAPPINGS_DIR, default `<project>/mappings`) holds
 * `manifest.json` (name, version, input format) and `mapping.jsonata` (a JSONata expression over the parsed message).
 * All are compiled once at start; the name, version and a hash of the expression are recorded on every message
 * they map.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { projectPath } from '../paths.js';
import jsonata from 'jsonata';
import type { ResourceIds } from '../referrals/resource-ids.js';
import { mappingBindings } from './functions.js';

/** `<project>/mappings`, from src/mapping or dist/mapping alike. */
export const DEFAULT_MAPPINGS_DIR = projectPath('mappings');

export interface MappingManifest {
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

export class MappingError extends Error {
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

export class MappingRegistry {
  private readonly byFormat = new Map<string, CompiledMapping>();
  private readonly byName = new Map<string, CompiledMapping>();

  constructor(
    readonly dir: string,
    ids: ResourceIds,
  ) {
    const bindings = mappingBindings(ids);
    const folders = fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()) : [];
    for (const f of folders) {
      const manifestFile = path.join(dir, f.name, 'manifest.json');
      const exprFile = path.join(dir, f.name, 'mapping.jsonata');
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
      const compiled = new CompiledMapping(manifest, ref, expression, bindings);
      for (const format of formats) {
        const key = `${manifest.source}\u0000${format}`;
        if (this.byFormat.has(key)) throw new Error(`Two mappings for ${manifest.source} format ${format}`);
        this.byFormat.set(key, compiled);
      }
      this.byName.set(manifest.name, compiled);
    }
  }

  /** The current mapping for a source and format (namespace URI, FormatId), if any. */
  forFormat(source: string, format: string): CompiledMapping | undefined {
    return this.byFormat.get(`${source}\u0000${format}`);
  }

  byMappingName(name: string): CompiledMapping | undefined {
    return this.byName.get(name);
  }

  list(): MappingRef[] {
    return [...this.byName.values()].map((m) => m.ref);
  }
}
