/**
 * Golden examples of a mapping: `mappings/<name>/examples/<sample>.xml|json|hl7` beside `<sample>.fhir.json`, the exact
 * FHIR the mapping produces for it. Ids are keyed hashes (resource-ids.ts), so golden files hold them normalised:
 * every id becomes `<Type>-<n>` in order of first appearance (references rewritten alike); `meta.versionId`,
 * `meta.lastUpdated` and the source-message extension (times and store ids of one delivery) are left out.
 * Used by the tests, and by `hl7-engine mappings check [--update]` for mapping authors.
 */
import { TENANT_TAG_SYSTEM } from '../platform/tenancy/tenant.js';
import fs from 'node:fs';
import path from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { prune, type MappingOutput } from './output.js';
import { isSourceMessageUrl } from '../lib/fhir-systems.js';
import { decodeXml, parseXmlTree } from '../lib/xml/secure-xml.js';
import { decodeEr7, parseEr7, readHeader } from '../lib/er7.js';
import type { CompiledMapping } from './registry.js';

interface MappingExample {
  name: string;
  input: string;
  golden: string;
}

export function listExamples(mappingDir: string): MappingExample[] {
  const dir = path.join(mappingDir, 'examples');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(xml|json|hl7)$/.test(f) && !f.endsWith('.fhir.json'))
    .sort()
    .map((f) => ({ name: f, input: path.join(dir, f), golden: path.join(dir, f.replace(/\.(xml|json|hl7)$/, '.fhir.json')) }));
}

/** The mapping input for a message file: the parsed XML root, the JSON value, or the HL7 v2 message (hl7v2/er7.ts). */
function mappingInput(file: string, bytes: Buffer): unknown {
  if (/\.json$/i.test(file)) return JSON.parse(bytes.toString('utf8'));
  if (/\.hl7$/i.test(file)) return parseEr7(decodeEr7(bytes, readHeader(bytes)?.characterSet ?? ''));
  const tree = parseXmlTree(decodeXml(bytes, 100 * 1024 * 1024).text);
  return tree.node;
}

/** Runs a mapping on a message file: the FHIR resources it produces, in entry order. */
export async function mapFile(mapping: CompiledMapping, file: string): Promise<{ resources: Resource[]; warnings: string[] }> {
  const out = prune(await mapping.evaluate(mappingInput(file, fs.readFileSync(file)), {})) as MappingOutput;
  return { resources: out.resources.map((e) => e.resource), warnings: out.warnings ?? [] };
}

/** Normalises volatile parts of FHIR resources for golden comparison (see the file comment). */
export function normaliseForGolden(resources: Resource[]): Resource[] {
  const ids = new Map<string, string>();
  const counters = new Map<string, number>();
  const placeholder = (type: string, id: string) => {
    const key = `${type}/${id}`;
    let p = ids.get(key);
    if (!p) {
      const n = (counters.get(type) ?? 0) + 1;
      counters.set(type, n);
      p = `${type}-${n}`;
      ids.set(key, p);
    }
    return p;
  };
  for (const r of resources) if (r.id) placeholder(r.resourceType, r.id);
  const walk = (v: unknown, top: boolean): unknown => {
    if (Array.isArray(v)) {
      const items = v.map((x) => walk(x, false)).filter((x) => x !== undefined);
      return items.length > 0 ? items : undefined;
    }
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.url === 'string' && isSourceMessageUrl(o.url)) return undefined;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(o)) {
        if (top && k === 'meta') {
          // versionId, lastUpdated and the tenant tag are the store's, not the mapping's.
          const { versionId: _v, lastUpdated: _l, ...rest } = x as Record<string, unknown>;
          const tags = Array.isArray(rest.tag) ? (rest.tag as { system?: string }[]).filter((t) => t.system !== TENANT_TAG_SYSTEM) : undefined;
          if (tags !== undefined) {
            if (tags.length > 0) rest.tag = tags;
            else delete rest.tag;
          }
          if (Object.keys(rest).length > 0) out.meta = rest;
          continue;
        }
        if (top && k === 'id' && typeof x === 'string') {
          out.id = placeholder(String(o.resourceType), x);
          continue;
        }
        if ((k === 'reference' || k === 'url') && typeof x === 'string') {
          const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(x);
          if (m && ids.has(`${m[1]}/${m[2]}`)) {
            out[k] = `${m[1]}/${ids.get(`${m[1]}/${m[2]}`)!}`;
            continue;
          }
        }
        const w = walk(x, false);
        if (w !== undefined) out[k] = w;
      }
      return out;
    }
    return v;
  };
  return resources.map((r) => walk(r, true) as Resource);
}
