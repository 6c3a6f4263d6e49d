/**
 * Hostile ingest corpus: messages built to exhaust the engine (input shape, CPU time), content the FHIR validator
 * refuses, times in the far future, repeated deliveries. Each case states the answer it must get; none may get a 5xx,
 * every message is stored with its outcome, and while the largest inputs are processed /healthz answers within 100 ms.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import type { Patient } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/platform/config/config.js';
import { pridokHeaders, pridokPayload } from '../support/tenants.js';
import { startTestEngine, TEST_TENANT, tmpDir, type TestEngine } from '../support/harness.js';
import { getMessage, ingest, postXml, readAppRec, variant } from '../ingest/support.js';

const NY = 'Henvisning_ny_tilstand_v2-0_Ny.xml';
const MSGHEAD_NS = 'http://www.kith.no/xmlstds/msghead/2006-05-24';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every HTTP status answered in this file (none may be 5xx). */
const statuses: { what: string; status: number }[] = [];

/** Runs `work` while /healthz is asked every 10 ms; the slowest answer in ms. */
async function probingHealth<T>(e: TestEngine, work: () => Promise<T>): Promise<{ result: T; worstMs: number; probes: number }> {
  let stop = false;
  let worstMs = 0;
  let probes = 0;
  const loop = (async () => {
    while (!stop) {
      const t = performance.now();
      const res = await fetch(`${e.url}/healthz`);
      await res.text();
      worstMs = Math.max(worstMs, performance.now() - t);
      probes++;
      await sleep(10);
    }
  })();
  try {
    const result = await work();
    return { result, worstMs, probes };
  } finally {
    stop = true;
    await loop;
  }
}

interface Answer {
  status: number;
  messageId: string;
  text: string;
}

/**
 * Posts from another process, as a sender would: the 10 MB bodies built and sent by this process's own event loop
 * (the engine's, in tests) would otherwise stall /healthz themselves.
 */
async function postFromChild(e: TestEngine, body: Buffer): Promise<Answer> {
  const file = path.join(tmpDir(), `hostile-${randomUUID()}.xml`);
  fs.writeFileSync(file, body);
  const token = await e.token('messages:write');
  const script = `
    const body = require('node:fs').readFileSync(process.env.BODY_FILE);
    fetch(process.env.TARGET, { method: 'POST', headers: { authorization: 'Bearer ' + process.env.TOKEN, 'content-type': 'application/xml' }, body })
      .then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, messageId: r.headers.get('x-message-id'), text: await r.text() })));`;
  const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, BODY_FILE: file, TARGET: `${e.url}/api/messages`, TOKEN: token }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  fs.rmSync(file, { force: true });
  if (code !== 0) throw new Error(`posting process exited with ${code}: ${out}`);
  return JSON.parse(out) as Answer;
}

async function postInProcess(e: TestEngine, body: string | Buffer): Promise<Answer> {
  const res = await postXml(e, body);
  return { status: res.status, messageId: res.headers.get('x-message-id') ?? '', text: await res.text() };
}

/** Posts a henvisning and expects an AppRec rejection (status 2) with `code`; returns the AppRec and the stored message. */
async function expectRejected(e: TestEngine, what: string, body: string | Buffer, code: string) {
  return checkRejected(e, what, body, await postInProcess(e, body), code);
}

/** Checks the answer to a henvisning is an AppRec rejection (status 2) with `code`, stored with its exact bytes. */
async function checkRejected(e: TestEngine, what: string, body: string | Buffer, res: Answer, code: string) {
  statuses.push({ what, status: res.status });
  const text = res.text;
  expect(res.status, text.slice(0, 300)).to.equal(200);
  const rec = readAppRec(text);
  expect(rec.status).to.equal('2');
  expect(rec.errors.map((x) => x.V)).to.include(code);
  const id = res.messageId;
  const m = await getMessage(e, id, false);
  expect(m.status).to.equal('rejected');
  expect(m.error?.code).to.equal(code);
  // Nothing lost: the exact bytes are stored.
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  expect(m.size).to.equal(bytes.length);
  expect(m.sha256).to.equal(createHash('sha256').update(bytes).digest('hex'));
  return { rec, m };
}

async function postPridok(e: TestEngine, what: string, body: unknown): Promise<{ status: number; json: Record<string, any>; ms: number }> {
  const raw = Buffer.from(JSON.stringify(body));
  const t = performance.now();
  const res = await fetch(`${e.url}/api/webhooks/pridok/referrals`, {
    method: 'POST',
    headers: pridokHeaders(raw),
    body: new Uint8Array(raw),
  });
  const json = (await res.json()) as Record<string, any>;
  statuses.push({ what, status: res.status });
  return { status: res.status, json, ms: performance.now() - t };
}

function fhirOf(e: TestEngine) {
  return e.ctx.fhir.forTenant(TEST_TENANT);
}

describe('hostile ingest', function () {
  this.timeout(180_000);
  let e: TestEngine;
  before(async () => {
    e = await startTestEngine();
    // Start-up work (worker threads loading schemas, mappings and FHIR definitions) is over before anything is timed.
    expect((await ingest(e, variant(NY))).status).to.equal('1');
  });
  after(async () => {
    await e?.stop();
  });

  describe('input shape limits (AppRec status 2 / T99, stored, /healthz within 100 ms meanwhile)', () => {
    it('~850 000 attributes on <MsgHead> (just under 10 MB)', async () => {
      // Written straight into one buffer: no million short strings for the test's own garbage collector to chase.
      const body = Buffer.alloc(10 * 1024 * 1024);
      let n = body.write(`<?xml version="1.0" encoding="UTF-8"?><MsgHead xmlns="${MSGHEAD_NS}"`);
      for (let i = 0; i < 850_000; i++) n += body.write(` a${i}=""`, n, 'latin1');
      n += body.write('/>', n);
      expect(n).to.be.within(9_000_000, e.config.ingest.messageMaxBytes);
      const { result: answer, worstMs, probes } = await probingHealth(e, () => postFromChild(e, body.subarray(0, n)));
      const result = await checkRejected(e, 'attributes', body.subarray(0, n), answer, 'T99');
      expect(result.rec.errors[0].OT).to.match(/limit of 100 attributes on one element/);
      expect(probes).to.be.greaterThan(3);
      expect(worstMs, `slowest /healthz ${worstMs.toFixed(0)} ms`).to.be.below(100);
    });

    it('2.6 million empty sibling elements', async () => {
      const body = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><MsgHead xmlns="${MSGHEAD_NS}">${'<a/>'.repeat(2_600_000)}</MsgHead>`);
      expect(body.length).to.be.below(e.config.ingest.messageMaxBytes);
      const { result: answer, worstMs, probes } = await probingHealth(e, () => postFromChild(e, body));
      const result = await checkRejected(e, 'elements', body, answer, 'T99');
      expect(result.rec.errors[0].OT).to.match(/limit of 100000 elements/);
      expect(probes).to.be.greaterThan(3);
      expect(worstMs, `slowest /healthz ${worstMs.toFixed(0)} ms`).to.be.below(100);
    });

    it('elements nested 200 deep', async () => {
      const body = `<?xml version="1.0"?><MsgHead xmlns="${MSGHEAD_NS}">${'<a>'.repeat(200)}x${'</a>'.repeat(200)}</MsgHead>`;
      const { rec } = await expectRejected(e, 'depth', body, 'T99');
      expect(rec.errors[0].OT).to.match(/limit of 64 levels of nested elements/);
    });

    it('one text node of 3 MB outside an attachment', async () => {
      const body = variant(NY, [['<Description>Paracet, tablett 500mg, 1-2 tabl. ved behov</Description>', `<Description>${'x'.repeat(3 * 1024 * 1024)}</Description>`]]);
      const { rec } = await expectRejected(e, 'text', body, 'T99');
      expect(rec.errors[0].OT).to.match(/characters in one text node or attribute value \(in Description\)/);
    });
  });

  describe('content the FHIR validator refuses (the sender\'s error, not 500)', () => {
    it('a henvisning whose description is 1.1 MB (over FHIR\'s string limit): AppRec status 2 / X99 naming the element, nothing written', async () => {
      const documentId = randomUUID();
      const patient = async () => (await fhirOf(e).search<Patient>('Patient', { identifier: '13116900216' })).resources[0];
      const before = await patient();
      const body = variant(NY, [
        ['<Description>Paracet, tablett 500mg, 1-2 tabl. ved behov</Description>', `<Description>${'abcdefghij'.repeat(115_000)}</Description>`],
        [/<DocumentId>[^<]*<\/DocumentId>/, `<DocumentId>${documentId}</DocumentId>`],
        [/<FamilyName>Danser<\/FamilyName>/, '<FamilyName>Avvist</FamilyName>'],
      ]);
      const { rec, m } = await expectRejected(e, 'fhir string limit', body, 'X99');
      expect(rec.errors[0].OT).to.match(/ServiceRequest\.note\[\d+\]\.text: String cannot be larger than 1 MB/);
      expect(m.error?.message).to.match(/not valid FHIR/);
      expect(m.fhir ?? []).to.deep.equal([]);
      // Validated before anything was written: no ServiceRequest, and the Patient (mapped first) is untouched.
      expect((await fhirOf(e).search('ServiceRequest', { identifier: documentId })).resources).to.deep.equal([]);
      const after = await patient();
      expect(after.meta?.versionId).to.equal(before.meta?.versionId);
      expect(after.name?.[0]?.family).to.not.equal('Avvist');
    });

    it('a Pridok MessageTimestamp 0000-01-01T00:00:00Z: 422 naming $.MessageTimestamp, stored as rejected', async () => {
      const r = await postPridok(e, 'pridok year 0', pridokPayload({ MessageTimestamp: '0000-01-01T00:00:00Z' }));
      expect(r.status, JSON.stringify(r.json)).to.equal(422);
      expect(r.json.error.type).to.equal('validation_failed');
      expect(r.json.error.invalid.map((i: { entry: string }) => i.entry)).to.deep.equal(['$.MessageTimestamp']);
      const stored = await e.ctx.ingest.messages.collection.find({ source: 'pridok' }).sort({ receivedAt: -1 }).limit(1).next();
      expect(stored!.status).to.equal('rejected');
      expect(stored!.error!.code).to.equal('validation_failed');
      expect(JSON.stringify(stored!.error!.details)).to.contain('$.MessageTimestamp');
    });

    it('a Pridok Lastname with a control character (FHIR refuses the string): 422 naming $.Lastname, nothing written', async () => {
      const guid = randomUUID();
      const r = await postPridok(e, 'pridok control character', pridokPayload({ JournalGuid: guid, Lastname: 'Dan\u0001ser' }));
      expect(r.status, JSON.stringify(r.json)).to.equal(422);
      expect(r.json.error.invalid[0].entry).to.equal('$.Lastname');
      expect(r.json.error.invalid[0].rules[0].description).to.match(/Patient\.name\[0\]\.family: Invalid string format/);
      const stored = await e.ctx.ingest.messages.collection.findOne({ externalId: guid });
      expect(stored!.status).to.equal('rejected');
      expect((await fhirOf(e).search('ServiceRequest', { identifier: guid })).resources).to.deep.equal([]);
    });
  });

  describe('message times in the future', () => {
    it('GenDate 9999-12-31T23:59:59: AppRec status 2 / X99, and the patient is not pinned to that message', async () => {
      const fnr = '13116900216';
      const future = variant(NY, [
        [/<GenDate>[^<]*<\/GenDate>/, '<GenDate>9999-12-31T23:59:59</GenDate>'],
        [/<DocumentId>[^<]*<\/DocumentId>/, `<DocumentId>${randomUUID()}</DocumentId>`],
        [/<FamilyName>Danser<\/FamilyName>/, '<FamilyName>Fremtid</FamilyName>'],
      ]);
      const { rec } = await expectRejected(e, 'future GenDate', future, 'X99');
      expect(rec.errors[0].OT).to.match(/GenDate 9999-12-31T23:59:59 is in the future/);
      // A message dated now updates the patient's name as usual.
      const now = variant(NY, [
        [/<GenDate>[^<]*<\/GenDate>/, `<GenDate>${new Date().toISOString()}</GenDate>`],
        [/<DocumentId>[^<]*<\/DocumentId>/, `<DocumentId>${randomUUID()}</DocumentId>`],
        [/<FamilyName>Danser<\/FamilyName>/, '<FamilyName>Nåtid</FamilyName>'],
      ]);
      const ok = await ingest(e, now);
      statuses.push({ what: 'henvisning now', status: 200 });
      expect(ok.status, JSON.stringify(ok.errors)).to.equal('1');
      const patients = (await fhirOf(e).search<Patient>('Patient', { identifier: fnr })).resources;
      expect(patients).to.have.length(1);
      expect(patients[0].name?.[0]?.family).to.equal('Nåtid');
    });

    it('a Pridok MessageTimestamp in year 9999: 422 naming $.MessageTimestamp; a later delivery still updates the patient', async () => {
      const pid = '13116900216';
      const r = await postPridok(e, 'pridok year 9999', pridokPayload({ MessageTimestamp: '9999-12-31T23:59:59Z', Lastname: 'Fremtid' }));
      expect(r.status, JSON.stringify(r.json)).to.equal(422);
      expect(r.json.error.invalid[0].entry).to.equal('$.MessageTimestamp');
      expect(r.json.error.invalid[0].rules[0].description).to.match(/in the future/);
      const ok = await postPridok(e, 'pridok now', pridokPayload({ MessageTimestamp: new Date().toISOString(), Lastname: 'Idag' }));
      expect(ok.status, JSON.stringify(ok.json)).to.equal(201);
      const patients = (await fhirOf(e).search<Patient>('Patient', { identifier: pid })).resources;
      expect(patients).to.have.length(1);
      expect(patients[0].name?.[0]?.family).to.equal('Idag');
    });
  });

  describe('repeated Pridok deliveries', () => {
    it('every duplicate of a processed JournalGuid answers 200 at once (no 30 s wait from the second on)', async () => {
      const body = pridokPayload();
      const first = await postPridok(e, 'pridok first', body);
      expect(first.status).to.equal(201);
      for (let i = 0; i < 5; i++) {
        const again = await postPridok(e, `pridok duplicate ${i}`, body);
        expect(again.status).to.equal(200);
        expect(again.json.data).to.deep.equal(first.json.data);
        expect(again.ms, `duplicate ${i + 1} took ${again.ms.toFixed(0)} ms`).to.be.below(2_000);
      }
      const concurrent = await Promise.all(Array.from({ length: 5 }, (_, i) => postPridok(e, `pridok concurrent duplicate ${i}`, body)));
      for (const c of concurrent) {
        expect(c.status).to.equal(200);
        expect(c.ms).to.be.below(2_000);
      }
    });
  });

  describe('time budget per message', () => {
    let tight: TestEngine;
    before(async () => {
      tight = await startTestEngine({ env: { INGEST_TIME_BUDGET_MS: '1' } });
    });
    after(async () => {
      await tight?.stop();
    });

    it('a message that needs longer than INGEST_TIME_BUDGET_MS: AppRec status 2 / T99, stored; the pool keeps working', async () => {
      const { rec } = await expectRejected(tight, 'time budget', variant(NY), 'T99');
      expect(rec.errors[0].OT).to.match(/took longer than the limit of 1 ms/);
      // The terminated thread was replaced: the next message is analysed (and rejected the same way), not lost.
      const again = await expectRejected(tight, 'time budget again', variant(NY), 'T99');
      expect(again.m.status).to.equal('rejected');
    });
  });

  describe('settings', () => {
    it('pool, limit and time settings are validated at start-up, one line naming the variable', () => {
      const defaults = loadConfig({}).ingest;
      expect(defaults.workerThreads).to.equal(Math.max(1, os.availableParallelism() - 1));
      expect(defaults.xmlLimits).to.deep.equal({ maxElements: 100_000, maxAttributes: 200_000, maxAttributesPerElement: 100, maxDepth: 64, maxTextLength: 2 * 1024 * 1024 });
      expect(defaults.futureSkewMs).to.equal(300_000);
      expect(loadConfig({ INGEST_WORKER_THREADS: '3', XML_MAX_TEXT_LENGTH: '512kb', INGEST_FUTURE_SKEW_S: '60' }).ingest).to.include({ workerThreads: 3, futureSkewMs: 60_000 });
      for (const [name, value] of [
        ['INGEST_WORKER_THREADS', '0'],
        ['INGEST_TIME_BUDGET_MS', 'soon'],
        ['INGEST_WORKER_MAX_HEAP_MB', '8'],
        ['XML_MAX_DEPTH', '65'],
        ['XML_MAX_TEXT_LENGTH', '10'],
        ['INGEST_FUTURE_SKEW_S', '-5'],
        ['INGEST_LEASE_S', '0'],
      ]) {
        expect(() => loadConfig({ [name]: value }), name).to.throw(new RegExp(`^Invalid configuration: ${name} `));
      }
    });
  });

  describe('all of the above', () => {
    it('got no 5xx answer', () => {
      expect(statuses.length).to.be.greaterThan(20);
      expect(statuses.filter((s) => s.status >= 500), JSON.stringify(statuses)).to.deep.equal([]);
    });
  });
});
