/**
 * Engine memory under a long mixed load: henvisning ingest (8 connections, distinct MsgIds, 500 patients) and FHIR
 * searches over what it wrote (Patient by identifier, a page of active ServiceRequests; 8 connections), both at once for BENCH_SOAK_S seconds
 * (default 600). The engine runs in its own process; its resident set size (process_resident_memory_bytes on its own
 * /metrics) is sampled every 10 s. The first minute is warm-up (caches, JIT, worker threads); the figures compare the
 * samples after it: `driftPercent` (last against the first after warm-up) and `spreadPercent` (highest minus lowest
 * against the first after warm-up). Flat means both within ±10 %. Each sample also has the main thread's heap in
 * use and its external memory (samples: seconds:rss/heapUsed/external MB), to tell a JavaScript leak from growth
 * elsewhere (worker threads, the allocator).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import autocannon from 'autocannon';
import { metricSum } from '../test/support/engine-process.js';
import { SAMPLE, patients } from './henvisning-ingest.bench.js';
import { benchTenants, receiversOf, startBenchEngine } from './support.js';

export const title = 'Memory soak: henvisning ingest and FHIR searches at once, engine RSS sampled every 10 s';

const NIN = 'urn:oid:2.16.578.1.12.4.1.4.1';
const SAMPLE_EVERY_MS = 10_000;
const WARM_UP_MS = 60_000;

export async function run(): Promise<Record<string, unknown>> {
  const seconds = Number(process.env.BENCH_SOAK_S ?? 600);
  const template = fs.readFileSync(SAMPLE, 'utf8');
  const pool = patients(500);
  let n = 0;
  const body = () =>
    template
      .replace(/<MsgId>[^<]+<\/MsgId>/, `<MsgId>${randomUUID()}</MsgId>`)
      .replace(/<DocumentId>[^<]+<\/DocumentId>/, `<DocumentId>${randomUUID()}</DocumentId>`)
      .replace('<Id>13116900216</Id>', `<Id>${pool[n++ % pool.length]}</Id>`);

  const engine = await startBenchEngine({ TENANTS: benchTenants(receiversOf(template)) });
  try {
    const ingestHeaders = { 'content-type': 'application/xml', authorization: `Bearer ${await engine.token('messages:write')}` };
    const fhirHeaders = { authorization: `Bearer ${await engine.token('system/*.read')}` };
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${engine.url}/api/messages`, { method: 'POST', headers: ingestHeaders, body: body() });
      if (res.status !== 200) throw new Error(`warm-up: HTTP ${res.status} ${await res.text()}`);
    }
    let q = 0;
    const search = () => {
      const fnr = pool[q++ % pool.length];
      return q % 2 === 0 ? `/fhir/Patient?identifier=${NIN}|${fnr}` : '/fhir/ServiceRequest?status=active&_count=10';
    };
    const mb = (m: Map<string, number>, name: string) => Number((metricSum(m, name) / 1024 / 1024).toFixed(1));
    const sample = async () => {
      const m = await engine.process.metrics();
      return {
        atS: Math.round((Date.now() - started) / 1000),
        rssMb: mb(m, 'process_resident_memory_bytes'),
        // The main thread's JavaScript heap and the memory outside it (Buffers); worker threads are only in the RSS.
        heapUsedMb: mb(m, 'nodejs_heap_size_used_bytes'),
        externalMb: mb(m, 'nodejs_external_memory_bytes'),
      };
    };
    const samples: Awaited<ReturnType<typeof sample>>[] = [];
    const started = Date.now();
    const sampler = setInterval(() => void sample().then((s) => samples.push(s)), SAMPLE_EVERY_MS);
    const cpu0 = await engine.cpuSeconds();
    const [ingest, searches] = await Promise.all([
      autocannon({
        url: `${engine.url}/api/messages`,
        connections: 8,
        duration: seconds,
        requests: [{ method: 'POST', headers: ingestHeaders, setupRequest: (req) => ({ ...req, body: body() }) }],
      }),
      autocannon({
        url: engine.url,
        connections: 8,
        duration: seconds,
        requests: [{ method: 'GET', headers: fhirHeaders, setupRequest: (req) => ({ ...req, path: search() }) }],
      }),
    ]);
    clearInterval(sampler);
    const cpu1 = await engine.cpuSeconds();
    samples.push(await sample());
    const steady = samples.filter((s) => s.atS * 1000 >= WARM_UP_MS);
    const first = steady[0]?.rssMb ?? NaN;
    const last = steady[steady.length - 1]?.rssMb ?? NaN;
    const max = Math.max(...steady.map((s) => s.rssMb));
    const min = Math.min(...steady.map((s) => s.rssMb));
    const pct = (v: number) => Number(((v / first) * 100).toFixed(1));
    return {
      seconds,
      ingestMessagesPerSecond: Math.round(ingest.requests.average),
      ingestNon2xx: ingest.non2xx,
      searchesPerSecond: Math.round(searches.requests.average),
      searchNon2xx: searches.non2xx,
      errors: ingest.errors + ingest.timeouts + searches.errors + searches.timeouts,
      engineCpuSeconds: Number((cpu1 - cpu0).toFixed(1)),
      rssAfterWarmUpMb: first,
      rssLastMb: last,
      rssMinMb: min,
      rssMaxMb: max,
      driftPercent: pct(last - first),
      spreadPercent: pct(max - min),
      flatWithin10Percent: Math.abs(pct(last - first)) <= 10 && pct(max - first) <= 10 && pct(first - min) <= 10,
      heapUsedAfterWarmUpMb: steady[0]?.heapUsedMb,
      heapUsedLastMb: steady[steady.length - 1]?.heapUsedMb,
      externalAfterWarmUpMb: steady[0]?.externalMb,
      externalLastMb: steady[steady.length - 1]?.externalMb,
      samples: samples.map((s) => `${s.atS}s:${s.rssMb}/${s.heapUsedMb}/${s.externalMb}`).join(' '),
    };
  } finally {
    await engine.stop();
  }
}
