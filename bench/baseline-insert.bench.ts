/**
 * The reference every ingest benchmark is divided by: a bare Express handler inserting a 5 KB document into the
 * database over HTTP, 32 concurrent clients (autocannon). Same database, same driver settings as the engine, and like
 * the engine its own process (bench/baseline-server.ts): the load generator does not share its CPU.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDatabase, load, setBaseline } from './support.js';

export const title = 'Baseline: bare Express handler (own process) inserting a 5 KB document (32 clients)';

const here = path.dirname(fileURLToPath(import.meta.url));

export async function run(): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'baseline-server.ts')], {
    cwd: path.join(here, '..'),
    env: { ...process.env, MONGODB_URI: (await benchDatabase()).uri, MONGODB_DATABASE: 'bench_baseline', PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`baseline server exited with ${code}`)));
    });
    const url = `http://127.0.0.1:${port}`;
    const cpuOf = { cpuSeconds: async () => ((await (await fetch(`${url}/cpu`)).json()) as { seconds: number }).seconds };
    const body = JSON.stringify({ kind: 'baseline', payload: 'x'.repeat(5 * 1024 - 40) });
    const result = await load({ url: `${url}/insert`, method: 'POST', headers: { 'content-type': 'application/json' }, body }, cpuOf);
    setBaseline(result.requestsPerSecond);
    return { ...result, documentBytes: Buffer.byteLength(body), serverPid: child.pid };
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
