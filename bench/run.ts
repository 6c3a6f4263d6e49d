/**
 * `npm run bench [-- name-filter]`: runs the baseline first, then every bench/*.bench.ts, and prints each figure with
 * its ratio to the baseline. Figures are also written to bench/results/latest.json.
 *
 * Method: the engine under load and the baseline's server each run in their own process (the engine as `node
 * dist/main.js`, built first); autocannon runs in this process. Every load figure carries the server process's CPU
 * milliseconds per request or message and a Little's-law check (see support.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { baselineRequestsPerSecond, benchDatabase, closeBench } from './support.js';

interface BenchModule {
  title?: string;
  run(): Promise<Record<string, unknown>>;
}

const dir = path.dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2];
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort((a, b) => (a.startsWith('baseline') ? -1 : b.startsWith('baseline') ? 1 : a.localeCompare(b)))
  .filter((f) => f.startsWith('baseline') || !filter || f.includes(filter));

const results: Record<string, unknown> = {};
const db = await benchDatabase();
console.log(`database: ${db.kind}; duration per load run: ${process.env.BENCH_DURATION_S ?? 10} s (BENCH_DURATION_S)`);
let failed = false;
for (const file of files) {
  const mod = (await import(pathToFileURL(path.join(dir, file)).href)) as BenchModule;
  const name = file.replace(/\.bench\.ts$/, '');
  console.log(`\n== ${mod.title ?? name}`);
  try {
    const figures = await mod.run();
    const rps = typeof figures.requestsPerSecond === 'number' ? figures.requestsPerSecond : typeof figures.messagesPerSecond === 'number' ? figures.messagesPerSecond : undefined;
    if (rps !== undefined && baselineRequestsPerSecond && !name.startsWith('baseline')) {
      figures.ratioToBaseline = Number((rps / baselineRequestsPerSecond).toFixed(3));
    }
    results[name] = figures;
    for (const [k, v] of Object.entries(figures)) console.log(`  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`);
  } catch (err) {
    failed = true;
    results[name] = { error: (err as Error).message };
    console.log(`  FAILED: ${(err as Error).stack}`);
  }
}
fs.mkdirSync(path.join(dir, 'results'), { recursive: true });
fs.writeFileSync(path.join(dir, 'results', 'latest.json'), JSON.stringify({ at: new Date().toISOString(), database: db.kind, method: 'engine-in-own-process', durationSeconds: Number(process.env.BENCH_DURATION_S ?? 10), results }, null, 2));
await closeBench();
console.log(`\nbaseline: ${baselineRequestsPerSecond ?? '?'} requests/s; results in bench/results/latest.json`);
process.exit(failed ? 1 : 0);
