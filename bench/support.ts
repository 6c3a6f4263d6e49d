/**
 * Shared pieces of the benchmarks: one database per `npm run bench` (MONGODB_URI, else the embedded server in a
 * throwaway directory), engines on ephemeral ports, and autocannon runs reported as requests/s and latency
 * percentiles. Benchmarks print their own figures; bench/run.ts prints them side by side with the baseline.
 */
import { dispatch } from '../src/henvisning/analyse.js';
import { decodeXml, parseXmlTree } from '../src/xml/secure-xml.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { mintLocalToken } from '../src/auth/keys.js';
import { loadConfig } from '../src/config/config.js';
import { resolveDatabase, type EmbeddedDatabase } from '../src/devdb/devdb.js';
import { startEngine, type RunningEngine } from '../src/engine/engine.js';
import { configureLogger } from '../src/logging/logger.js';

configureLogger('silent');

let db: Promise<EmbeddedDatabase> | undefined;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hl7-engine-bench-'));

export function benchDatabase(): Promise<EmbeddedDatabase> {
  db ??= resolveDatabase({ uri: process.env.MONGODB_URI, dataDir: path.join(tmp, 'db'), onProgress: (m) => console.error(m) });
  return db;
}

export async function closeBench(): Promise<void> {
  if (db) await (await db).stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}

/** The legal entity the benchmarks act for (every token's client_id unless given). */
export const BENCH_TENANT = 'bench-le';

export interface BenchEngine extends RunningEngine {
  token(scope: string, opts?: { sub?: string; clientId?: string }): Promise<string>;
}

/** TENANTS with BENCH_TENANT receiving henvisning messages for these HER-ids. */
export function benchTenants(receiverHerIds: string[] = []): string {
  return JSON.stringify([{ id: BENCH_TENANT, henvisning_receiver_her_ids: receiverHerIds }]);
}

/** The receiver HER-ids of a henvisning message (read with the engine's own envelope parser). */
export function receiversOf(xml: string): string[] {
  return dispatch(parseXmlTree(decodeXml(Buffer.from(xml, 'utf8'), 1e8).text)).env?.receiverHerIds ?? [];
}

export async function startBenchEngine(env: Record<string, string> = {}): Promise<BenchEngine> {
  const dataDir = fs.mkdtempSync(path.join(tmp, 'engine-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    MONGODB_URI: (await benchDatabase()).uri,
    MONGODB_DATABASE: `bench_${path.basename(dataDir).replace(/[^A-Za-z0-9_]/g, '_')}`,
    LOG_LEVEL: 'silent',
    TENANTS: benchTenants(),
    ...env,
  });
  const engine = await startEngine(config);
  return { ...engine, token: (scope, o = {}) => mintLocalToken(dataDir, { scope, sub: o.sub ?? 'bench-user', clientId: o.clientId ?? BENCH_TENANT }) };
}

export const durationSeconds = Number(process.env.BENCH_DURATION_S ?? 10);

export interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

export async function load(opts: autocannon.Options): Promise<LoadResult> {
  const result = await autocannon({ duration: durationSeconds, connections: 32, ...opts });
  return {
    requests: result.requests.total,
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

/** The baseline figure of this run (set by bench/run.ts after the baseline benchmark). */
export let baselineRequestsPerSecond: number | undefined;
export function setBaseline(rps: number): void {
  baselineRequestsPerSecond = rps;
}
