/**
 * Care plan activities end to end: 16 concurrent clients each POST a signed activity (HTTP 202 + job), poll
 * GET /api/jobs/:id until the job is processed (303), and go on with the next one. Reported: activities processed
 * per second (202 → processed), the POST rate, and latencies.
 *
 * Each client has its own patient and care plan (so no activation terminates another client's plan). Signatures are
 * CMS SignedData made in process (ECDSA P-256 via node:crypto, DER assembled with node-forge's ASN.1 encoder) with the
 * test PKI's doctor certificate, so the client side costs little CPU; the engine (its own process, see support.ts)
 * verifies them fully (chain to the trust anchor, signed attributes, messageDigest). Database commands are the engine
 * process's, by command name.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import forge from 'node-forge';
import { verifySignedData } from '../src/lib/signature/index.js';
import { testPki } from '../test/careplans/pki.js';
import { World } from '../test/careplans/support.js';
import type { TestEngine } from '../test/support/harness.js';
import { commandsBetween, durationSeconds, startBenchEngine } from './support.js';

export const title = 'Care plan activities: signed POST → 202 → job processed, 16 concurrent clients';

const CLIENTS = Number(process.env.BENCH_CAREPLAN_CLIENTS ?? 16);
const POLL_MS = Number(process.env.BENCH_CAREPLAN_POLL_MS ?? 500);
const asn1 = forge.asn1;
const { Class, Type } = asn1;

const oid = (o: string) => asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(o).getBytes());
const seq = (v: forge.asn1.Asn1[]) => asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, v);
const set = (v: forge.asn1.Asn1[]) => asn1.create(Class.UNIVERSAL, Type.SET, true, v);
const octets = (b: Buffer) => asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, b.toString('binary'));
const int = (n: number) => asn1.create(Class.UNIVERSAL, Type.INTEGER, false, String.fromCharCode(n));
const der = (a: forge.asn1.Asn1) => Buffer.from(asn1.toDer(a).getBytes(), 'binary');

/** A CMS SignedData signer (attached content, signed attributes, SHA-256, ECDSA). */
function cmsSigner(certPem: string, keyPem: string): (content: Buffer) => Buffer {
  const certDer = Buffer.from(certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const certAsn1 = asn1.fromDer(certDer.toString('binary'));
  const tbs = (certAsn1.value as forge.asn1.Asn1[])[0].value as forge.asn1.Asn1[];
  const off = tbs[0].tagClass === Class.CONTEXT_SPECIFIC ? 1 : 0;
  const serial = tbs[off];
  const issuer = tbs[off + 2];
  const key = crypto.createPrivateKey(keyPem);
  const sha256 = () => seq([oid('2.16.840.1.101.3.4.2.1')]);
  return (content) => {
    const digest = crypto.createHash('sha256').update(content).digest();
    const attrs = [
      seq([oid('1.2.840.113549.1.9.3'), set([oid('1.2.840.113549.1.7.1')])]),
      seq([oid('1.2.840.113549.1.9.5'), set([asn1.create(Class.UNIVERSAL, Type.UTCTIME, false, asn1.dateToUtcTime(new Date()))])]),
      seq([oid('1.2.840.113549.1.9.4'), set([octets(digest)])]),
    ].sort((a, b) => Buffer.compare(der(a), der(b)));
    const signature = crypto.sign('sha256', der(set(attrs)), { key, dsaEncoding: 'der' });
    const signedAttrs = asn1.create(Class.CONTEXT_SPECIFIC, 0, true, attrs);
    const signerInfo = seq([int(1), seq([issuer, serial]), sha256(), signedAttrs, seq([oid('1.2.840.10045.4.3.2')]), octets(signature)]);
    const signedData = seq([
      int(1),
      set([sha256()]),
      seq([oid('1.2.840.113549.1.7.1'), asn1.create(Class.CONTEXT_SPECIFIC, 0, true, [octets(content)])]),
      asn1.create(Class.CONTEXT_SPECIFIC, 0, true, [certAsn1]),
      set([signerInfo]),
    ]);
    return der(seq([oid('1.2.840.113549.1.7.2'), asn1.create(Class.CONTEXT_SPECIFIC, 0, true, [signedData])]));
  };
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]);
}

export async function run(): Promise<Record<string, unknown>> {
  const pki = await testPki();
  const engine = await startBenchEngine({ SIGNATURE_TRUST_ANCHORS: pki.rootPem });
  try {
    const e = engine as unknown as TestEngine;
    const signCms = cmsSigner(fs.readFileSync(pki.doctor.cert, 'utf8'), fs.readFileSync(pki.doctor.key, 'utf8'));
    const probe = await verifySignedData(signCms(Buffer.from('{}')), { trust: engine.ctx.signatureTrust });
    if (!probe.valid) throw new Error(`benchmark signature does not verify: ${probe.code} ${probe.message}`);

    const worlds: World[] = [];
    for (let i = 0; i < CLIENTS; i++) worlds.push(await new World(e, pki.doctor).setup());

    const postLatencies: number[] = [];
    const e2eLatencies: number[] = [];
    let failures = 0;
    let accepted = 0;
    const one = async (w: World): Promise<void> => {
      const t0 = performance.now();
      const signed = signCms(Buffer.from(JSON.stringify(w.activity()))).toString('base64');
      const post = await fetch(`${engine.url}${w.activitiesPath()}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${w.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ signed_data: signed }),
      });
      const body = (await post.json()) as { data: { links: { href: string }[] } };
      postLatencies.push(performance.now() - t0);
      if (post.status !== 202) {
        failures++;
        return;
      }
      accepted++;
      const href = `${engine.url}${body.data.links[0].href}`;
      for (;;) {
        const res = await fetch(href, { headers: { authorization: `Bearer ${w.token}` }, redirect: 'manual' });
        const job = (await res.json()) as { data: { status: string } };
        if (job.data.status !== 'pending') {
          if (res.status === 303) e2eLatencies.push(performance.now() - t0);
          else failures++;
          return;
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    };

    for (const w of worlds) await one(w); // warm-up: first activation of every plan, caches
    postLatencies.length = 0;
    e2eLatencies.length = 0;
    failures = 0;
    accepted = 0;

    // Database commands of the engine process (its /metrics, by command name): over the whole concurrent run
    // (everything: POSTs, job runs, Agenda's polling, the clients' GET /api/jobs polls) per processed activity, and in
    // a sequential probe afterwards split into the POST's own commands and the job's (polled through the bench
    // process's ctx.jobs.get, which the engine process does not count). The split is approximate: the reading after
    // the POST's answer is itself a request, and the engine may have started the job by then.
    const add = (into: Map<string, number>, from: Map<string, number>) => {
      for (const [k, n] of from) into.set(k, (into.get(k) ?? 0) + n);
    };
    const commandsBefore = await engine.commands();
    const cpuBefore = await engine.cpuSeconds();
    const start = performance.now();
    const deadline = start + durationSeconds * 1000;
    await Promise.all(
      worlds.map(async (w) => {
        while (performance.now() < deadline) await one(w);
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const cpuAfter = await engine.cpuSeconds();
    const commands = commandsBetween(commandsBefore, await engine.commands());
    const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const per = (n: number, d: number) => Number((n / Math.max(1, d)).toFixed(2));
    const breakdown = (m: Map<string, number>, d: number) =>
      Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).filter(([, n]) => per(n, d) >= 0.01).map(([k, n]) => [k, per(n, d)]));
    const commandsPerActivity = per(total(commands), e2eLatencies.length);
    // Server side: how long a job waited for a worker (inserted → started) and ran (started → finished).
    const runs = await engine.ctx.jobs.jobs
      .find({ name: 'care_plan_activity.create', inserted_at: { $gte: new Date(Date.now() - seconds * 1000) } })
      .toArray();
    const jobWaitMs = runs.filter((j) => j.started_at).map((j) => j.started_at!.getTime() - j.inserted_at.getTime());
    const jobRunMs = runs.filter((j) => j.started_at && j.finished_at).map((j) => j.finished_at!.getTime() - j.started_at!.getTime());

    // Sequential probe: PROBE activities one at a time on one client's plan.
    const PROBE = 5;
    const postCommands = new Map<string, number>();
    const jobCommands = new Map<string, number>();
    const w = worlds[0];
    for (let i = 0; i < PROBE; i++) {
      const c0 = await engine.commands();
      const signed = signCms(Buffer.from(JSON.stringify(w.activity()))).toString('base64');
      const post = await fetch(`${engine.url}${w.activitiesPath()}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${w.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ signed_data: signed }),
      });
      const body = (await post.json()) as { data: { links: { href: string }[] } };
      const jobId = body.data.links[0].href.split('/').pop()!;
      const c1 = await engine.commands();
      add(postCommands, commandsBetween(c0, c1));
      if (post.status !== 202) throw new Error(`probe POST answered ${post.status}`);
      for (;;) {
        const job = await engine.ctx.jobs.get(jobId);
        if (job && job.status !== 'pending' && job.status !== 'processing') break;
        await new Promise((r) => setTimeout(r, 10));
      }
      add(jobCommands, commandsBetween(c1, await engine.commands()));
    }
    return {
      clients: CLIENTS,
      activitiesProcessed: e2eLatencies.length,
      activitiesPerSecond: Math.round((e2eLatencies.length / seconds) * 10) / 10,
      postsAcceptedPerSecond: Math.round((accepted / seconds) * 10) / 10,
      postP50Ms: percentile(postLatencies, 50),
      postP99Ms: percentile(postLatencies, 99),
      endToEndP50Ms: percentile(e2eLatencies, 50),
      endToEndP99Ms: percentile(e2eLatencies, 99),
      failures,
      jobWaitP50Ms: percentile(jobWaitMs, 50),
      jobWaitP99Ms: percentile(jobWaitMs, 99),
      jobRunP50Ms: percentile(jobRunMs, 50),
      jobRunP99Ms: percentile(jobRunMs, 99),
      engineCpuMsPerActivity: per((cpuAfter - cpuBefore) * 1000, e2eLatencies.length),
      commandsPerActivity,
      commandBreakdownPerActivity: breakdown(commands, e2eLatencies.length),
      probePostCommands: per(total(postCommands), PROBE),
      probePostBreakdown: breakdown(postCommands, PROBE),
      probeJobCommands: per(total(jobCommands), PROBE),
      probeJobBreakdown: breakdown(jobCommands, PROBE),
    };
  } finally {
    await engine.stop();
  }
}
