/**
 * Scale-out: henvisning ingest (the henvisning-ingest load: distinct MsgIds and DocumentIds, 500 patients, 32
 * connections in all) against one engine process, then spread over three engine processes on the same database
 * (`BENCH_SCALEOUT_ENGINES`, default 3; autocannon instances of 32/n connections each, one per engine). Reports
 * messages/s of both (processed messages in the store over the run), their ratio, and each run's CPU milliseconds per
 * message summed over the engine processes. The three processes start together; during the one-engine run the other
 * two are idle (their background polling is counted in neither figure).
 *
 * On a machine with fewer cores than engines the engines share the cores: the figure then shows what several
 * processes cost on one machine, not what more machines give.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { patients, SAMPLE } from './henvisning-ingest.bench.js';
import { benchTenants, load, receiversOf, startBenchEngine, type BenchEngine, type LoadResult } from './support.js';
import type { EngineProcess } from '../test/support/engine-process.js';

const ENGINES = Number(process.env.BENCH_SCALEOUT_ENGINES ?? 3);
const CONNECTIONS = 32;

export const title = `Scale-out: henvisning ingest on one engine process vs spread over ${ENGINES} (same database, ${CONNECTIONS} connections in all)`;

export async function run(): Promise<Record<string, unknown>> {
  const template = fs.readFileSync(SAMPLE, 'utf8');
  const pool = patients(500);
  let n = 0;
  const body = () =>
    template
      .replace(/<MsgId>[^<]+<\/MsgId>/, `<MsgId>${randomUUID()}</MsgId>`)
      .replace(/<DocumentId>[^<]+<\/DocumentId>/, `<DocumentId>${randomUUID()}</DocumentId>`)
      .replace('<Id>13116900216</Id>', `<Id>${pool[n++ % pool.length]}</Id>`);
  const engine = await startBenchEngine({ TENANTS: benchTenants(receiversOf(template)) }, ENGINES);
  try {
    const token = await engine.token('messages:write');
    const headers = { 'content-type': 'application/xml', authorization: `Bearer ${token}` };
    for (const p of engine.processes) {
      for (let i = 0; i < 10; i++) {
        const res = await fetch(`${p.url}/api/messages`, { method: 'POST', headers, body: body() });
        const text = await res.text();
        if (!text.includes('<Status V="1"')) throw new Error(`warm-up on ${p.url}: HTTP ${res.status} ${text.slice(0, 300)}`);
      }
    }
    const one = await phase(engine, engine.processes.slice(0, 1), headers, body);
    const all = await phase(engine, engine.processes, headers, body);
    return {
      engines: ENGINES,
      cores: (await import('node:os')).availableParallelism(),
      messagesPerSecond: all.messagesPerSecond,
      oneEngine: one,
      spread: all,
      speedup: Number((all.messagesPerSecond / Math.max(1, one.messagesPerSecond)).toFixed(2)),
    };
  } finally {
    await engine.stop();
  }
}

async function phase(engine: BenchEngine, targets: EngineProcess[], headers: Record<string, string>, body: () => string): Promise<Record<string, unknown> & { messagesPerSecond: number }> {
  const messages = engine.ctx.ingest.messages.collection;
  const cpu = async () => (await Promise.all(targets.map((p) => p.cpuSeconds()))).reduce((a, b) => a + b, 0);
  const processedBefore = await messages.countDocuments({ status: 'processed' });
  const cpuBefore = await cpu();
  const started = Date.now();
  const per = Math.floor(CONNECTIONS / targets.length);
  const runs: LoadResult[] = await Promise.all(
    targets.map((p, i) =>
      load({
        url: `${p.url}/api/messages`,
        connections: i === 0 ? CONNECTIONS - per * (targets.length - 1) : per,
        requests: [{ method: 'POST', headers, setupRequest: (req) => ({ ...req, body: body() }) }],
      }),
    ),
  );
  const seconds = (Date.now() - started) / 1000;
  for (let i = 0; i < 120 && (await messages.countDocuments({ status: 'received' })) > 0; i++) await new Promise((r) => setTimeout(r, 250));
  const cpuAfter = await cpu();
  const processed = (await messages.countDocuments({ status: 'processed' })) - processedBefore;
  return {
    messagesPerSecond: Math.round(processed / seconds),
    processed,
    engineCpuMsPerMessage: Number((((cpuAfter - cpuBefore) * 1000) / Math.max(1, processed)).toFixed(2)),
    perEngine: runs.map((r) => ({ requestsPerSecond: r.requestsPerSecond, p50Ms: r.p50Ms, p99Ms: r.p99Ms, littlesLaw: r.littlesLaw, errors: r.errors + r.non2xx })),
  };
}
