/**
 * Shared pieces of the benchmarks: one database per `npm run bench` (MONGODB_URI, else the embedded server in a
 * throwaway directory), the engine under load in its own process, and autocannon runs reported as requests/s, latency
 * percentiles and a Little's-law check. Benchmarks print their own figures; bench/run.ts prints them side by side
 * with the baseline.
 *
 * The engine under load is a child process (`node dist/main.js`, as `npm start` runs it; bench/run.ts builds dist
 * first): what a client sees, without the load generator's CPU in the engine's event loop. Its CPU time and database
 * commands are read from its GET /metrics (process_cpu_seconds_total, db_command_duration_seconds_count).
 * `engine.ctx` is a second engine inside the bench process on the same database and data directory that serves no
 * load (no job polling, no recovery, one analysis thread): for seeding, tokens and reading what the engine wrote.
 */
import { dispatch } from '../src/ingest/henvisning/analyse.js';
import { decodeXml, parseXmlTree } from '../src/lib/xml/secure-xml.js';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { mintLocalToken } from '../src/platform/auth/keys.js';
import { loadConfig, type Config } from '../src/platform/config/config.js';
import { resolveDatabase, type EmbeddedDatabase } from '../src/platform/devdb/devdb.js';
import { startEngine } from '../src/app/engine.js';
import type { AppContext } from '../src/app/context.js';
import { configureLogger } from '../src/platform/logging/logger.js';
import { PROJECT_ROOT, spawnEngine, type EngineProcess } from '../test/support/engine-process.js';

configureLogger('silent');

let db: Promise<EmbeddedDatabase> | undefined;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hl7-engine-bench-'));

export function benchDatabase(): Promise<EmbeddedDatabase> {
  db ??= resolveDatabase({ uri: process.env.MONGODB_URI, dataDir: path.join(tmp, 'db'), onProgress: (m) => console.error(m) });
  return db;
}

/**
 * CPU seconds used so far by the embedded database server the bench started (from /proc; undefined for an external
 * database or where /proc is missing).
 */
export function databaseCpuSeconds(): number | undefined {
  try {
    const { pid } = JSON.parse(fs.readFileSync(path.join(tmp, 'db', 'server.json'), 'utf8')) as { pid: number };
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return undefined;
  }
}

export async function closeBench(): Promise<void> {
  if (db) await (await db).stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}

let built = false;
/** `npm run build` once per bench process: the engine process runs dist/main.js as `npm start` does. */
export function buildEngine(): void {
  if (built) return;
  execFileSync(process.execPath, [path.join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  built = true;
}

/** The legal entity the benchmarks act for (every token's client_id unless given). */
export const BENCH_TENANT = 'bench-le';

export interface BenchEngine {
  /** The engine under load (its own process; the first of `processes`). */
  url: string;
  port: number;
  pid: number;
  process: EngineProcess;
  /** Every engine process started (same database, same DATA_DIR); `startBenchEngine(env, n)` starts n. */
  processes: EngineProcess[];
  /** Milliseconds from spawning the (first) engine process until it answered /healthz. */
  processStartMs: number;
  /** The configuration the engine process runs with. */
  config: Config;
  /** The in-process engine on the same database that serves no load (seeding, tokens' key, reading results). */
  ctx: AppContext;
  token(scope: string, opts?: { sub?: string; clientId?: string }): Promise<string>;
  /** The engine process's CPU seconds so far (user + system, all threads). */
  cpuSeconds(): Promise<number>;
  /** The engine process's database commands so far, by command name (db_command_duration_seconds_count). */
  commands(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

/** TENANTS with BENCH_TENANT receiving henvisning messages for these HER-ids. */
export function benchTenants(receiverHerIds: string[] = []): string {
  return JSON.stringify([{ id: BENCH_TENANT, henvisning_receiver_her_ids: receiverHerIds }]);
}

/** The receiver HER-ids of a henvisning message (read with the engine's own envelope parser). */
export function receiversOf(xml: string): string[] {
  return dispatch(parseXmlTree(decodeXml(Buffer.from(xml, 'utf8'), 1e8).text)).env?.receiverHerIds ?? [];
}

/**
 * Database commands between two `commands()` readings, by command name. Every reading of /metrics runs one
 * `aggregate` of its own (the job queue depth), which is taken off.
 */
export function commandsBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) {
    const n = v - (before.get(k) ?? 0) - (k === 'aggregate' ? 1 : 0);
    if (n > 0) out.set(k, n);
  }
  return out;
}

export async function startBenchEngine(env: Record<string, string> = {}, processCount = 1): Promise<BenchEngine> {
  buildEngine();
  const dataDir = fs.mkdtempSync(path.join(tmp, 'engine-'));
  const engineEnv: Record<string, string> = {
    DATA_DIR: dataDir,
    MONGODB_URI: (await benchDatabase()).uri,
    MONGODB_DATABASE: `bench_${path.basename(dataDir).replace(/[^A-Za-z0-9_]/g, '_')}`,
    LOG_LEVEL: 'warn',
    TENANTS: benchTenants(),
    ...env,
  };
  // The in-process engine starts first: it creates the data directory's token key the engine process then reads.
  const side = await startEngine(
    loadConfig({
      ...engineEnv,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      INGEST_WORKER_THREADS: '1',
      INGEST_RECOVERY_INTERVAL_S: '0',
      JOBS_POLL_INTERVAL_MS: '3600000',
      HL7V2_MLLP_PORT: '', // the engine process listens for MLLP, not this one
    }),
  );
  const processes: EngineProcess[] = [];
  const spawnedAt = Date.now();
  let processStartMs = 0;
  try {
    for (let i = 0; i < processCount; i++) {
      processes.push(await spawnEngine({ entry: 'dist', env: engineEnv }));
      if (i === 0) processStartMs = Date.now() - spawnedAt;
    }
  } catch (err) {
    await Promise.all(processes.map((p) => p.stop()));
    await side.stop();
    throw err;
  }
  const proc = processes[0];
  const config = loadConfig({ ...engineEnv, PORT: String(proc.port), HOST: '127.0.0.1' });
  return {
    url: proc.url,
    port: proc.port,
    pid: proc.pid,
    process: proc,
    processes,
    processStartMs,
    config,
    ctx: side.ctx,
    token: (scope, o = {}) => mintLocalToken(dataDir, { scope, sub: o.sub ?? 'bench-user', clientId: o.clientId ?? BENCH_TENANT }),
    cpuSeconds: () => proc.cpuSeconds(),
    commands: async () => {
      const m = await proc.metrics();
      const out = new Map<string, number>();
      for (const [k, v] of m) {
        const match = /^db_command_duration_seconds_count\{command="([^"]+)"\}$/.exec(k);
        if (match) out.set(match[1], v);
      }
      return out;
    },
    stop: async () => {
      try {
        await Promise.all(processes.map((p) => p.stop()));
      } finally {
        await side.stop();
      }
    },
  };
}

export const durationSeconds = Number(process.env.BENCH_DURATION_S ?? 10);

export interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  errors: number;
  non2xx: number;
  /**
   * Little's law: mean latency × responses ÷ (connections × seconds). With every connection busy all the time it is
   * ≈ 1; well below 1 means autocannon's latencies are too short (it mis-times responses after a server closes a
   * kept-alive connection) or connections sat idle, above 1 that latencies are too long.
   */
  littlesLaw: number;
  /** The server process's CPU milliseconds per response (only with `cpuOf`: the engine, or the baseline's server). */
  serverCpuMsPerRequest?: number;
}

/**
 * One autocannon run. `cpuOf`: the process under load (its CPU seconds are read before and after the run and divided
 * by the responses).
 */
export async function load(opts: autocannon.Options, cpuOf?: { cpuSeconds(): Promise<number> }): Promise<LoadResult> {
  const connections = opts.connections ?? 32;
  const cpu0 = cpuOf ? await cpuOf.cpuSeconds() : 0;
  const t0 = performance.now();
  const result = await autocannon({ duration: durationSeconds, ...opts, connections });
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuOf ? await cpuOf.cpuSeconds() : 0;
  const requests = result.requests.total;
  return {
    requests,
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    meanMs: Number(result.latency.mean.toFixed(1)),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    littlesLaw: Number(((result.latency.mean * requests) / (connections * seconds * 1000)).toFixed(2)),
    ...(cpuOf ? { serverCpuMsPerRequest: Number((((cpu1 - cpu0) * 1000) / Math.max(1, requests)).toFixed(2)) } : {}),
  };
}

/** The baseline figure of this run (set by bench/run.ts after the baseline benchmark). */
export let baselineRequestsPerSecond: number | undefined;
export function setBaseline(rps: number): void {
  baselineRequestsPerSecond = rps;
}
