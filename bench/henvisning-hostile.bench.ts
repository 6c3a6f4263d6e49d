/**
 * Henvisning ingest while hostile messages arrive: normal traffic (autocannon, 16 clients, the "Ny tilstand" sample
 * with distinct MsgIds and DocumentIds) for BENCH_DURATION_S, first alone, then while another process posts 10 MB
 * hostile messages back to back (two at a time, alternately ~850 000 attributes on <MsgHead> and 2.6 million empty
 * elements). The same process asks /healthz every 10 ms. Reports messages/s of the normal traffic and the /healthz
 * p50/p99/max of both phases, and how the hostile messages were answered.
 *
 * The engine runs in its own process (see support.ts); the hostile sender and the /healthz prober in another child
 * process; autocannon in this process, as in the other benchmarks. The engine's CPU per normal request includes
 * what the hostile messages cost it.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchTenants, durationSeconds, load, receiversOf, startBenchEngine, type BenchEngine } from './support.js';

export const title = 'Henvisning ingest with 10 MB hostile messages arriving at the same time: messages/s and /healthz latency';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SAMPLE = path.join(root, 'mappings', 'henvisning-v2.0', 'examples', 'Henvisning_ny_tilstand_v2-0_Ny.xml');
const MSGHEAD_NS = 'http://www.kith.no/xmlstds/msghead/2006-05-24';

function attributeBomb(): Buffer {
  const b = Buffer.alloc(10 * 1024 * 1024);
  let n = b.write(`<?xml version="1.0" encoding="UTF-8"?><MsgHead xmlns="${MSGHEAD_NS}"`);
  for (let i = 0; i < 850_000; i++) n += b.write(` a${i}=""`, n, 'latin1');
  n += b.write('/>', n);
  return b.subarray(0, n);
}

function elementFlood(): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><MsgHead xmlns="${MSGHEAD_NS}">${'<a/>'.repeat(2_600_000)}</MsgHead>`);
}

/** Runs in the child: posts the hostile files (`HOSTILE_CONCURRENCY` at a time) and probes /healthz until DURATION_MS. */
const CHILD = `
const fs = require('node:fs');
const files = process.env.FILES.split(',').map((f) => fs.readFileSync(f));
const until = Date.now() + Number(process.env.DURATION_MS);
const base = process.env.BASE;
const hostile = Number(process.env.HOSTILE_CONCURRENCY);
const health = [];
const answers = {};
const sender = async (k) => {
  for (let i = k; Date.now() < until; i += hostile) {
    try {
      const r = await fetch(base + '/api/messages', { method: 'POST', headers: { authorization: 'Bearer ' + process.env.TOKEN, 'content-type': 'application/xml' }, body: files[i % files.length] });
      const t = await r.text();
      const key = r.status + ' ' + ((/<Error V="([^"]+)"/.exec(t) || [])[1] || (/<Status V="([^"]+)"/.exec(t) || [])[1] || '');
      answers[key] = (answers[key] || 0) + 1;
    } catch (e) {
      answers['error ' + e.message] = (answers['error ' + e.message] || 0) + 1;
    }
  }
};
const prober = async () => {
  while (Date.now() < until) {
    const t = performance.now();
    const r = await fetch(base + '/healthz');
    await r.text();
    health.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 10));
  }
};
Promise.all([prober(), ...Array.from({ length: hostile }, (_, k) => sender(k))]).then(() => {
  health.sort((a, b) => a - b);
  const q = (p) => health[Math.min(health.length - 1, Math.floor(p * health.length))];
  process.stdout.write(JSON.stringify({ probes: health.length, p50: q(0.5), p99: q(0.99), max: health[health.length - 1], answers }));
});
`;

interface ChildResult {
  probes: number;
  p50: number;
  p99: number;
  max: number;
  answers: Record<string, number>;
}

function runChild(engine: BenchEngine, token: string, files: string[], hostileConcurrency: number): Promise<ChildResult> {
  const child = spawn(process.execPath, ['-e', CHILD], {
    env: { ...process.env, FILES: files.join(','), DURATION_MS: String(durationSeconds * 1000), BASE: engine.url, TOKEN: token, HOSTILE_CONCURRENCY: String(hostileConcurrency) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as ChildResult) : reject(new Error(`hostile sender exited with ${code}`))));
  });
}

const ms = (n: number) => Number(n.toFixed(1));

export async function run(): Promise<Record<string, unknown>> {
  const template = fs.readFileSync(SAMPLE, 'utf8');
  const body = () =>
    template.replace(/<MsgId>[^<]+<\/MsgId>/, `<MsgId>${randomUUID()}</MsgId>`).replace(/<DocumentId>[^<]+<\/DocumentId>/, `<DocumentId>${randomUUID()}</DocumentId>`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-bench-'));
  const files = [path.join(dir, 'attributes.xml'), path.join(dir, 'elements.xml')];
  fs.writeFileSync(files[0], attributeBomb());
  fs.writeFileSync(files[1], elementFlood());
  const engine = await startBenchEngine({ TENANTS: benchTenants(receiversOf(template)) });
  try {
    const token = await engine.token('messages:write');
    const headers = { 'content-type': 'application/xml', authorization: `Bearer ${token}` };
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${engine.url}/api/messages`, { method: 'POST', headers, body: body() });
      if (!(await res.text()).includes('<Status V="1"')) throw new Error(`warm-up: HTTP ${res.status}`);
    }
    const phase = async (hostile: number) => {
      const processedBefore = await engine.ctx.ingest.messages.collection.countDocuments({ status: 'processed' });
      const started = Date.now();
      const [normal, child] = await Promise.all([
        load({ url: `${engine.url}/api/messages`, connections: 16, requests: [{ method: 'POST', headers, setupRequest: (req) => ({ ...req, body: body() }) }] }, engine),
        runChild(engine, token, files, hostile),
      ]);
      const seconds = (Date.now() - started) / 1000;
      for (let i = 0; i < 120 && (await engine.ctx.ingest.messages.collection.countDocuments({ status: 'received' })) > 0; i++) {
        await new Promise((r) => setTimeout(r, 250));
      }
      const processed = (await engine.ctx.ingest.messages.collection.countDocuments({ status: 'processed' })) - processedBefore;
      return {
        messagesPerSecond: Math.round(processed / seconds),
        normalP99Ms: normal.p99Ms,
        normalLittlesLaw: normal.littlesLaw,
        engineCpuMsPerNormalRequest: normal.serverCpuMsPerRequest,
        normalErrors: normal.errors + normal.non2xx,
        healthzProbes: child.probes,
        healthzP50Ms: ms(child.p50),
        healthzP99Ms: ms(child.p99),
        healthzMaxMs: ms(child.max),
        hostileAnswers: child.answers,
      };
    };
    const alone = await phase(0);
    const underAttack = await phase(2);
    return {
      messagesPerSecond: underAttack.messagesPerSecond,
      threads: engine.config.ingest.workerThreads,
      normalTrafficAlone: alone,
      withHostileMessages: underAttack,
    };
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
