/**
 * Dictionaries: what validators pay per code check, and what administrators wait for.
 * - seeding the shipped files into an empty database (engine start-up cost on first start);
 * - in-process `isValidCode` per second (the bench process's dictionary service) with the cache (stamps checked every second, the default) and with
 *   DICTIONARY_CACHE_CHECK_MS=0 (one stamp query per lookup);
 * - GET /fhir/ValueSet/$validate-code over HTTP (32 clients, autocannon) against the engine process;
 * - replacing the 9 530-code ICD-10 list over HTTP (dry run and real), and the first lookup after it.
 */
import { DictionaryService } from '../src/dictionaries/service.js';
import { load, startBenchEngine } from './support.js';

export const title = 'Dictionaries: seeding, cached isValidCode, $validate-code over HTTP, replacing ICD-10 (9 530 codes)';

async function lookupsPerSecond(service: DictionaryService, n: number): Promise<number> {
  const probes: [string, string][] = [
    ['ICPC2', 'K86'],
    ['ICPC2', 'K31'],
    ['eHealth/ICD10/condition_codes', 'A00.00'],
    ['MEDICATION_UNIT', 'MG'],
    ['2.16.578.1.12.4.1.1.8116', 'FNR'],
  ];
  await service.isValidCode('ICPC2', 'A01'); // warm
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const [d, c] = probes[i % probes.length];
    if (!(await service.isValidCode(d, c))) throw new Error(`${d} ${c} not valid`);
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return Math.round(n / s);
}

export async function run(): Promise<Record<string, unknown>> {
  const engine = await startBenchEngine();
  const engineStartMs = engine.processStartMs; // the engine process: spawn to /healthz (dictionaries seeded already)
  try {
    const db = engine.ctx.database.db;
    // Seeding alone, into a fresh database of the same server.
    const fresh = engine.ctx.database.client.db(`${db.databaseName}_seed`);
    const seeder = new DictionaryService(fresh, { cacheCheckMs: 1000, versionsKept: 20 });
    const s0 = Date.now();
    const seeded = await seeder.seed(engine.ctx.config.dictionaries.dir);
    const seedMs = Date.now() - s0;
    await fresh.dropDatabase();

    const cached = await lookupsPerSecond(engine.ctx.dictionaries, 200_000);
    const uncached = await lookupsPerSecond(new DictionaryService(db, { cacheCheckMs: 0, versionsKept: 20 }), 2_000);

    const token = await engine.token('dictionaries:read dictionaries:write');
    const url = encodeURIComponent('https://hl7-engine.example/fhir/ValueSet/icpc2');
    const http = await load({ url: `${engine.url}/fhir/ValueSet/$validate-code?url=${url}&code=K86`, headers: { authorization: `Bearer ${token}` } }, engine);

    const icd10 = (await (await fetch(`${engine.url}/api/dictionaries/eHealth%2FICD10%2Fcondition_codes/export`, { headers: { authorization: `Bearer ${token}` } })).json()) as { version: string; codes: { display: Record<string, string> }[] };
    icd10.version = 'bench';
    icd10.codes[0].display.uk += ' (bench)';
    const body = JSON.stringify(icd10);
    const put = async (q: string) => {
      const p0 = Date.now();
      const r = await fetch(`${engine.url}/api/dictionaries/eHealth%2FICD10%2Fcondition_codes${q}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
      if (r.status !== 200) throw new Error(`PUT answered ${r.status}: ${await r.text()}`);
      return Date.now() - p0;
    };
    const dryRunMs = await put('?dry_run=true');
    const replaceMs = await put('');
    const l0 = Date.now();
    await engine.ctx.dictionaries.isValidCode('eHealth/ICD10/condition_codes', 'A00.00');
    const reloadMs = Date.now() - l0; // in the bench process's service, which learns of the replacement from the database

    return {
      engineStartMs,
      seedMs,
      seededDictionaries: seeded.seeded.length,
      cachedLookupsPerSecond: cached,
      uncachedLookupsPerSecond: uncached,
      validateCodeHttp: http,
      requestsPerSecond: http.requestsPerSecond,
      icd10ReplaceDryRunMs: dryRunMs,
      icd10ReplaceMs: replaceMs,
      icd10FirstLookupAfterReplaceMs: reloadMs,
      icd10BodyBytes: Buffer.byteLength(body),
    };
  } finally {
    await engine.ctx.database.db.dropDatabase().catch(() => {});
    await engine.stop();
  }
}
