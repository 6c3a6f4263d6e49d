/**
 * The engine as its own operating-system process, started the way operators start it: `node dist/main.js` (what
 * `npm start` runs; needs `npm run build`) or `node --import tsx src/main.ts` (from the sources). Configuration is the
 * environment; the port is a free loopback port chosen here and the process is ready when GET /healthz answers.
 * Used by the benchmarks (the engine under load is not the process generating the load) and by the scale-out test
 * (several engines on one database).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/platform/devdb/free-port.js';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface EngineProcess {
  pid: number;
  port: number;
  url: string;
  child: ChildProcess;
  /** GET /metrics parsed: one entry per sample line (`name{labels}` → value). */
  metrics(): Promise<Map<string, number>>;
  /** The process's CPU time (user + system, all threads) in seconds: prom-client's process_cpu_seconds_total. */
  cpuSeconds(): Promise<number>;
  /** SIGTERM (graceful stop), SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  /** 'dist': node dist/main.js; 'tsx': node --import tsx src/main.ts. */
  entry: 'dist' | 'tsx';
  /** The engine's environment (PORT and HOST are set here). */
  env: Record<string, string>;
  /** Where the process's stdout and stderr go (default: this process's stderr). */
  output?: 'inherit' | 'ignore';
  readyTimeoutMs?: number;
}

/** Parses the Prometheus text format into `name{labels}` → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Sum of every sample of `name` whose labels contain `labelPart` (e.g. `stage="analyse"`). */
export function metricSum(m: Map<string, number>, name: string, labelPart = ''): number {
  let sum = 0;
  for (const [k, v] of m) {
    const brace = k.indexOf('{');
    const n = brace < 0 ? k : k.slice(0, brace);
    if (n === name && k.includes(labelPart)) sum += v;
  }
  return sum;
}

export async function spawnEngine(opts: SpawnOptions): Promise<EngineProcess> {
  const port = await freePort();
  const args = opts.entry === 'dist' ? [path.join(PROJECT_ROOT, 'dist', 'main.js')] : ['--import', 'tsx', path.join(PROJECT_ROOT, 'src', 'main.ts')];
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...opts.env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', opts.output === 'ignore' ? 'ignore' : process.stderr, opts.output === 'ignore' ? 'ignore' : process.stderr],
  });
  const url = `http://127.0.0.1:${port}`;
  let exited: number | string | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = code ?? signal;
      resolve();
    }),
  );
  const stop = async (graceMs = 30_000) => {
    if (exited !== undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exit;
    clearTimeout(timer);
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited !== undefined) throw new Error(`engine process ${child.pid} exited during start-up (${exited})`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      await stop(1000);
      throw new Error(`engine process ${child.pid} not ready after ${opts.readyTimeoutMs ?? 60_000} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const metrics = async () => {
    const res = await fetch(`${url}/metrics`);
    if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
    return parseMetrics(await res.text());
  };
  return {
    pid: child.pid!,
    port,
    url,
    child,
    metrics,
    cpuSeconds: async () => metricSum(await metrics(), 'process_cpu_seconds_total'),
    stop,
  };
}

/**
 * An engine from the sources (`node --import tsx src/main.ts`) for tests that kill or race engines: its process is
 * added to `children` (the test stops or kills each by its PID); resolves once it answers.
 */
export async function startEngineProcess(env: Record<string, string>, children: ChildProcess[]): Promise<{ child: ChildProcess; url: string }> {
  const engine = await spawnEngine({ entry: 'tsx', env, output: 'ignore', readyTimeoutMs: 90_000 });
  children.push(engine.child);
  return { child: engine.child, url: engine.url };
}
