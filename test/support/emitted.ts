/**
 * Every FHIR resource the engine answers over HTTP during a test run: fetch is wrapped (test-only) and each response
 * whose body is a FHIR resource (application/fhir+json, or JSON with a FHIR resourceType) is kept, once per distinct
 * content. hooks.ts validates them all against the HL7 FHIR R4 JSON schema at the end of the run, and writes them to
 * FHIR_DUMP_DIR when that is set, for the HL7 reference validator (tools/fhir-validator, run by .ci/run).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { schemaIssues } from '../../src/fhir-store/json-schema.js';

export interface Emitted {
  resource: { resourceType: string; id?: string };
  /** METHOD path of the request that answered it. */
  source: string;
}

const seen = new Map<string, Emitted>();
const pending = new Set<Promise<void>>();
let installed = false;

function keep(body: string, source: string): void {
  if (!body.includes('"resourceType"')) return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return;
  }
  const type = (parsed as { resourceType?: unknown } | null)?.resourceType;
  if (typeof type !== 'string' || !/^[A-Z][A-Za-z]+$/.test(type)) return;
  const hash = createHash('sha256').update(body).digest('hex');
  if (!seen.has(hash)) seen.set(hash, { resource: parsed as Emitted['resource'], source });
}

/** Wraps globalThis.fetch once; responses of every test (fetch, fhir-kit-client's fetch) are collected. */
export function collectEmittedResources(): void {
  if (installed) return;
  installed = true;
  const original = globalThis.fetch;
  globalThis.fetch = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const res = await original(input, init);
    const type = res.headers.get('content-type') ?? '';
    if (/json/i.test(type) && res.body) {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const source = `${init?.method ?? (input instanceof Request ? input.method : 'GET')} ${new URL(url).pathname}`;
      const p = res
        .clone()
        .text()
        .then((body) => keep(body, source))
        .catch(() => undefined)
        .finally(() => pending.delete(p));
      pending.add(p);
    }
    return res;
  };
}

/** Collected so far (after the responses still being read). */
export async function emittedResources(): Promise<Emitted[]> {
  await Promise.all([...pending]);
  return [...seen.values()];
}

/** Forgets collected resources (a test that serves deliberately invalid FHIR from its own server removes them). */
export async function discardEmitted(match: (e: Emitted) => boolean): Promise<void> {
  await emittedResources();
  for (const [hash, e] of seen) if (match(e)) seen.delete(hash);
}

/** The first invalid resource of `list` against the R4 JSON schema, described; undefined when all are valid. */
export function firstInvalid(list: Emitted[]): string | undefined {
  for (const e of list) {
    const issues = schemaIssues(e.resource);
    if (issues.length > 0) {
      const r = e.resource;
      return `The engine answered invalid FHIR to ${e.source}: ${r.resourceType}${r.id ? `/${r.id}` : ''} at ${issues[0].path || '/'}: ${issues[0].message}`;
    }
  }
  return undefined;
}

/**
 * Validates every collected resource against the R4 JSON schema: throws on the first invalid one with the request
 * that answered it, its JSON pointer and the error. Writes them to `dumpDir` (one file each) when given.
 */
export async function checkEmittedResources(dumpDir?: string): Promise<number> {
  const all = await emittedResources();
  if (dumpDir) {
    fs.mkdirSync(dumpDir, { recursive: true });
    all.forEach((e, i) => {
      const name = `${String(i).padStart(5, '0')}-${e.resource.resourceType}.json`;
      fs.writeFileSync(path.join(dumpDir, name), JSON.stringify(e.resource));
    });
  }
  const invalid = firstInvalid(all);
  if (invalid) throw new Error(invalid);
  return all.length;
}
