/**
 * Henvisning ingestion end to end: POST /api/messages (MsgHead v1.2 + Henvisning v2.0, the "Ny tilstand" sample) with
 * 32 concurrent clients (autocannon). Every request carries a distinct MsgId and DocumentId (so dedup never
 * short-circuits: each one is stored, validated, mapped and written to FHIR as a new referral) and one of 500
 * patients. The engine runs in its own process (see support.ts). Reports messages/s (AppRec status 1), the engine
 * process's CPU milliseconds per message, the time split per stage from the engine's own histogram
 * (henvisning_ingest_stage_seconds on its /metrics: analyse — the worker-thread round trip with decode, parse, XSD,
 * checks, mapping and FHIR validation —, fhir_store, message_store), and the in-process cost of the XSD validation and
 * the mapping alone. Database commands per message are the engine process's own (db_command_duration_seconds_count on
 * its /metrics, by command name; a batched insert counts once). A sequential FHIR create and update (If-Match) are
 * timed and counted on the side, in the bench process's repository.
 */
import { validFnrs } from '../test/support/person-numbers.js';
import { randomUUID } from 'node:crypto';
import type { Observation } from '@medplum/fhirtypes';
import type { CommandStartedEvent } from 'mongodb';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCHEMA_DIR } from '../src/ingest/henvisning/service.js';
import { MappingRegistry } from '../src/mapping/registry.js';
import { ResourceIds } from '../src/mapping/resource-ids.js';
import { decodeXml, parseXmlTree } from '../src/lib/xml/secure-xml.js';
import { SchemaSet } from '../src/lib/xml/xsd.js';
import { metricSum } from '../test/support/engine-process.js';
import { benchTenants, commandsBetween, load, receiversOf, startBenchEngine, BENCH_TENANT, type BenchEngine } from './support.js';

export const title = 'Henvisning ingest: POST /api/messages end to end, 32 clients, distinct MsgIds (AppRec status 1)';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SAMPLE = path.join(root, 'mappings', 'henvisning-v2.0', 'examples', 'Henvisning_ny_tilstand_v2-0_Ny.xml');

/** Valid fødselsnumre (born 1950-1989, classic check digits). */
export const patients = validFnrs;

interface StageSums {
  [stage: string]: { sum: number; count: number };
}

/** henvisning_ingest_stage_seconds of the engine process, by stage. */
async function stageSums(engine: BenchEngine): Promise<StageSums> {
  const m = await engine.process.metrics();
  const out: StageSums = {};
  for (const stage of ['analyse', 'fhir_store', 'message_store']) {
    out[stage] = {
      sum: metricSum(m, 'henvisning_ingest_stage_seconds_sum', `stage="${stage}"`),
      count: metricSum(m, 'henvisning_ingest_stage_seconds_count', `stage="${stage}"`),
    };
  }
  return out;
}

function perCall(fn: () => unknown, n: number): number {
  for (let i = 0; i < Math.min(20, n); i++) fn();
  const t = performance.now();
  for (let i = 0; i < n; i++) fn();
  return (performance.now() - t) / n;
}

async function perCallAsync(fn: () => Promise<unknown>, n: number): Promise<number> {
  for (let i = 0; i < Math.min(20, n); i++) await fn();
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn();
  return (performance.now() - t) / n;
}

export async function run(): Promise<Record<string, unknown>> {
  const template = fs.readFileSync(SAMPLE, 'utf8');
  const pool = patients(500);
  let n = 0;
  const body = () => {
    const i = n++;
    return template
      .replace(/<MsgId>[^<]+<\/MsgId>/, `<MsgId>${randomUUID()}</MsgId>`)
      .replace(/<DocumentId>[^<]+<\/DocumentId>/, `<DocumentId>${randomUUID()}</DocumentId>`)
      .replace('<Id>13116900216</Id>', `<Id>${pool[i % pool.length]}</Id>`);
  };

  // In-process costs of the two CPU-heavy stages, outside the server.
  const utf8 = Buffer.from(template, 'utf8');
  const schema = SchemaSet.load(path.join(SCHEMA_DIR, 'msghead-henvisning-v2.0.xsd'));
  const xsdMs = perCall(() => schema.validate(utf8), 300);
  const tree = parseXmlTree(decodeXml(utf8, 1e7).text).node;
  const mapping = new MappingRegistry(path.join(root, 'mappings'), new ResourceIds(Buffer.from('bench-key-bench-key-bench-key-bench'))).byMappingName('henvisning-v2.0')!;
  const mapMs = await perCallAsync(() => mapping.evaluate(tree, {}), 100);

  // The benchmark's tenant receives for the sample's receiver (tenancy on: the E21 check is part of every message).
  const engine = await startBenchEngine({
    TENANTS: benchTenants(receiversOf(template)),
    ...(process.env.INGEST_CONCURRENCY ? { INGEST_CONCURRENCY: process.env.INGEST_CONCURRENCY } : {}),
  });
  try {
    const token = await engine.token('messages:write messages:read');
    const headers = { 'content-type': 'application/xml', authorization: `Bearer ${token}` };
    // Warm-up (schemas, mapping, FHIR validation definitions, organisations and practitioner created once).
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${engine.url}/api/messages`, { method: 'POST', headers, body: body() });
      if (res.status !== 200) throw new Error(`warm-up: HTTP ${res.status} ${await res.text()}`);
      const text = await res.text();
      if (!text.includes('<Status V="1"')) throw new Error(`warm-up: AppRec not OK: ${text.slice(0, 400)}`);
    }
    const before = await stageSums(engine);
    const commandsBefore = await engine.commands();
    const cpuBefore = await engine.cpuSeconds();
    const processedBefore = await engine.ctx.ingest.messages.collection.countDocuments({ status: 'processed' });
    const started = Date.now();
    const result = await load({
      url: `${engine.url}/api/messages`,
      requests: [{ method: 'POST', headers, setupRequest: (req) => ({ ...req, body: body() }) }],
    });
    const seconds = (Date.now() - started) / 1000;
    // autocannon abandons its last in-flight requests: wait until the engine has finished them.
    for (let i = 0; i < 120 && (await engine.ctx.ingest.messages.collection.countDocuments({ status: 'received' })) > 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
    }
    const cpuAfter = await engine.cpuSeconds();
    const commands = commandsBetween(commandsBefore, await engine.commands());
    const after = await stageSums(engine);
    const processed = (await engine.ctx.ingest.messages.collection.countDocuments({ status: 'processed' })) - processedBefore;
    const perMessage = (n: number) => Number((n / Math.max(1, processed)).toFixed(2));
    const commandsPerMessage = perMessage([...commands.values()].reduce((a, b) => a + b, 0));
    const commandBreakdown = Object.fromEntries(
      [...commands].sort((a, b) => b[1] - a[1]).filter(([, n]) => perMessage(n) >= 0.01).map(([k, n]) => [k, perMessage(n)]),
    );
    const fhirWrites = await measureFhirWrites(engine);
    const notProcessed = await engine.ctx.ingest.messages.collection.countDocuments({ status: { $ne: 'processed' } });
    const split: Record<string, number> = {};
    const count = Math.max(1, (after.analyse?.count ?? 0) - (before.analyse?.count ?? 0));
    for (const stage of ['analyse', 'fhir_store', 'message_store']) {
      const s = (after[stage]?.sum ?? 0) - (before[stage]?.sum ?? 0);
      split[`${stage}Ms`] = Number(((s * 1000) / count).toFixed(3));
    }
    return {
      messagesPerSecond: Math.round(processed / seconds),
      requestsPerSecond: result.requestsPerSecond,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      meanMs: result.meanMs,
      littlesLaw: result.littlesLaw,
      engineCpuMsPerMessage: Number((((cpuAfter - cpuBefore) * 1000) / Math.max(1, processed)).toFixed(2)),
      errors: result.errors,
      non2xx: result.non2xx,
      processed,
      notProcessed,
      timeSplitPerMessage: split,
      commandsPerMessage,
      commandBreakdown,
      fhirWrites,
      inProcess: { xsdValidateMs: Number(xsdMs.toFixed(3)), jsonataMapMs: Number(mapMs.toFixed(3)) },
    };
  } finally {
    await engine.stop();
  }
}

/** Sequential FhirRepository.create (generated id) and update (If-Match) of an Observation: ms and database commands each. */
async function measureFhirWrites(engine: BenchEngine): Promise<Record<string, number>> {
  const repo = engine.ctx.fhir.forTenant(BENCH_TENANT);
  let count = 0;
  const onCommand = () => void count++;
  const obs = (i: number): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: `Patient/bench-${i % 50}` },
    valueQuantity: { value: 60 + (i % 40), unit: '/min' },
  });
  const n = 100;
  for (let i = 0; i < 10; i++) await repo.create(obs(i)); // warm-up
  engine.ctx.database.client.on('commandStarted', onCommand);
  let t = performance.now();
  let last = await repo.create(obs(0));
  for (let i = 1; i < n; i++) last = await repo.create(obs(i));
  const createMs = (performance.now() - t) / n;
  const createCommands = count / n;
  count = 0;
  t = performance.now();
  for (let i = 0; i < n; i++) last = await repo.update({ ...last, valueQuantity: { value: i, unit: '/min' } }, { ifMatchVersion: last.meta!.versionId });
  const updateMs = (performance.now() - t) / n;
  const updateCommands = count / n;
  engine.ctx.database.client.off('commandStarted', onCommand);
  return {
    createMs: Number(createMs.toFixed(2)),
    createCommands: Number(createCommands.toFixed(2)),
    updateMs: Number(updateMs.toFixed(2)),
    updateCommands: Number(updateCommands.toFixed(2)),
  };
}
