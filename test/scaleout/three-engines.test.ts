/**
 * Scale-out: three engine processes (`node --import tsx src/main.ts`, the same MONGODB_URI and MONGODB_DATABASE, one
 * DATA_DIR so they share the token key, TENANTS of the tests) behind no balancer: the test spreads every request over
 * them itself. At the same time:
 * - henvisning messages: each distinct MsgId is posted to all three engines at once (a sender resending to another
 *   node), several messages per fødselsnummer;
 * - one Pridok JournalGuid delivered twice to every engine at once, for a patient the henvisning messages also name;
 * - one consultation picked by six practitioners, two on each engine.
 * Then: every message is stored once and processed once (one run), every duplicate got the stored outcome, exactly
 * one pick won, one Patient per fødselsnummer and one ServiceRequest per DocumentId / JournalGuid.
 *
 * An in-process engine on the same database serves none of these requests: it creates the token key first, seeds the
 * referral the consultation is made from, and reads what the three processes wrote.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { SYSTEMS } from '../../src/lib/fhir-systems.js';
import { validFnrs as patients } from '../support/person-numbers.js';
import { api, createConsultation, makeReferral, tokens, uniqueOrg, type ApiResponse } from '../consultations/support.js';
import { spawnEngine, type EngineProcess } from '../support/engine-process.js';
import { databaseUri, startTestEngine, TEST_TENANT, tmpDir, type TestEngine } from '../support/harness.js';
import { pridokHeaders, testTenants, pridokPayload } from '../support/tenants.js';
import { readAppRec, variant } from '../ingest/support.js';

const NY = 'Henvisning_ny_tilstand_v2-0_Ny.xml';
const SAMPLE_FNR = '13116900216';
const MESSAGES = 6;
const PATIENTS = 3;
const PRIDOK_COPIES_PER_ENGINE = 2;
const PICKERS_PER_ENGINE = 2;

describe('scale-out: three engine processes on one database', function () {
  this.timeout(120_000);
  const engines: EngineProcess[] = [];
  let reader: TestEngine | undefined;

  before(async function () {
    const id = randomUUID().slice(0, 8);
    const dataDir = path.join(tmpDir(), `scaleout-${id}`);
    fs.mkdirSync(dataDir, { recursive: true });
    const env = {
      MONGODB_URI: databaseUri(),
      MONGODB_DATABASE: `test_scaleout_${id}`,
      DATA_DIR: dataDir,
      TENANTS: testTenants(),
      LOG_LEVEL: 'error',
      INGEST_WORKER_THREADS: '1',
      // The per-message time budget defends against hostile input; on a shared test machine three engines warming up
      // at once can exceed the default 10 s, which is not what this test is about.
      INGEST_TIME_BUDGET_MS: '60000',
    };
    // First, so that the token key exists before the processes read it; it takes no part in the races.
    reader = await startTestEngine({ env: { ...env, LOG_LEVEL: 'silent', INGEST_RECOVERY_INTERVAL_S: '0', JOBS_POLL_INTERVAL_MS: '3600000' } });
    const started = await Promise.allSettled([0, 1, 2].map(() => spawnEngine({ entry: 'tsx', env })));
    for (const s of started) if (s.status === 'fulfilled') engines.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    // Warm-up: one message of its own per engine (schemas, mapping and FHIR validation are loaded on first use).
    const token = await reader.token('messages:write');
    await Promise.all(
      engines.map(async (e) => {
        const res = await fetch(`${e.url}/api/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/xml' }, body: variant(NY, [[/<DocumentId>[^<]+</, `<DocumentId>${randomUUID()}<`]]) });
        expect(readAppRec(await res.text()).status).to.equal('1');
      }),
    );
  });

  after(async function () {
    // Every process started here, by its own PID (EngineProcess.stop signals child.pid only).
    await Promise.all(engines.map((e) => e.stop(20_000)));
    await reader?.stop();
  });

  it('runs as three processes with distinct PIDs and ports', () => {
    expect(engines).to.have.length(3);
    expect(new Set(engines.map((e) => e.pid)).size).to.equal(3);
    expect(new Set(engines.map((e) => e.port)).size).to.equal(3);
  });

  it('concurrent henvisning resends, Pridok duplicates and consultation picks across the engines: each done once', async () => {
    const r = reader!;
    const fnrs = patients(PATIENTS);
    const writeToken = await r.token('messages:write');

    // Henvisning: MESSAGES distinct MsgIds and DocumentIds over PATIENTS patients, each posted to every engine.
    const messages = Array.from({ length: MESSAGES }, (_, i) => {
      const msgId = randomUUID();
      const documentId = randomUUID();
      return { msgId, documentId, fnr: fnrs[i % PATIENTS], xml: variant(NY, [[/<DocumentId>[^<]+</, `<DocumentId>${documentId}<`], [`<Id>${SAMPLE_FNR}</Id>`, `<Id>${fnrs[i % PATIENTS]}</Id>`]], msgId) };
    });
    const postHenvisning = async (e: EngineProcess, xml: string) => {
      const res = await fetch(`${e.url}/api/messages`, { method: 'POST', headers: { authorization: `Bearer ${writeToken}`, 'content-type': 'application/xml' }, body: xml });
      return { status: res.status, xml: await res.text(), duplicate: res.headers.get('x-duplicate') === 'true', messageId: res.headers.get('x-message-id') };
    };

    // Pridok: one JournalGuid, PRIDOK_COPIES_PER_ENGINE deliveries to every engine; its patient is also in henvisning.
    const journalGuid = randomUUID();
    const pridokBody = Buffer.from(JSON.stringify(pridokPayload({ JournalGuid: journalGuid, PID: fnrs[0] })));
    const postPridok = async (e: EngineProcess) => {
      const res = await fetch(`${e.url}/api/webhooks/pridok/referrals`, { method: 'POST', headers: pridokHeaders(pridokBody), body: new Uint8Array(pridokBody) });
      return { status: res.status, body: (await res.json()) as { data?: Record<string, string> } };
    };

    // Consultation: a referral and a consultation made before the race, picked on every engine at once.
    const t = await tokens(r);
    const { serviceRequestId } = await makeReferral(r, uniqueOrg('org-scaleout'));
    const consultation = await createConsultation(r, t.supervisor, serviceRequestId);
    const pickers = Array.from({ length: 3 * PICKERS_PER_ENGINE }, (_, i) => `dr-scaleout-${i}`);
    const pickTokens = await Promise.all(pickers.map((p) => t.practitioner(p)));

    const [henvisning, pridok, picks] = await Promise.all([
      Promise.all(messages.map((m) => Promise.all(engines.map((e) => postHenvisning(e, m.xml))))),
      Promise.all(engines.flatMap((e) => Array.from({ length: PRIDOK_COPIES_PER_ENGINE }, () => postPridok(e)))),
      Promise.all(pickTokens.map((tok, i) => api(engines[i % 3] as unknown as TestEngine, 'POST', `/api/consultations/${consultation.id}/pick`, tok))),
    ]);

    // Henvisning: per MsgId three AppRecs with status 1, the same bytes, one message id, one first answer.
    const store = r.ctx.ingest.messages.collection;
    for (const [i, answers] of henvisning.entries()) {
      const m = messages[i];
      expect(answers.map((a) => a.status), m.msgId).to.deep.equal([200, 200, 200]);
      for (const a of answers) expect(readAppRec(a.xml).status, JSON.stringify(readAppRec(a.xml).errors)).to.equal('1');
      expect(new Set(answers.map((a) => a.xml)).size, 'one stored AppRec for all copies').to.equal(1);
      expect(new Set(answers.map((a) => a.messageId)).size).to.equal(1);
      expect(answers.filter((a) => !a.duplicate), 'exactly one copy is the first').to.have.length(1);
      const docs = await store.find({ source: 'henvisning', externalId: m.msgId }).toArray();
      expect(docs, `stored once: ${m.msgId}`).to.have.length(1);
      expect(docs[0]._id).to.equal(answers[0].messageId);
      expect(docs[0].status).to.equal('processed');
      expect(docs[0].runs.map((run) => run.trigger), `processed once: ${m.msgId}`).to.deep.equal(['ingest']);
    }

    // Pridok: one 201, the other deliveries 200 with the same references; one message, processed once.
    const statuses = pridok.map((p) => p.status).sort((a, b) => a - b);
    expect(statuses, JSON.stringify(pridok.map((p) => p.body))).to.deep.equal([...Array(3 * PRIDOK_COPIES_PER_ENGINE - 1).fill(200), 201]);
    for (const p of pridok) expect(p.body.data).to.deep.equal(pridok[0].body.data);
    const pridokDocs = await store.find({ source: 'pridok', externalId: journalGuid.toLowerCase() }).toArray();
    expect(pridokDocs).to.have.length(1);
    expect(pridokDocs[0].runs).to.have.length(1);
    expect(pridokDocs[0]._id).to.equal(pridok[0].body.data!.message_id);

    // Picks: exactly one winner, every other engine's answer 409; one pick in the history.
    const winners = picks.filter((p: ApiResponse) => p.status === 200);
    expect(winners, JSON.stringify(picks.map((p) => p.status))).to.have.length(1);
    for (const p of picks.filter((x) => x.status !== 200)) expect(p.status, JSON.stringify(p.body)).to.equal(409);
    const doc = (await api(engines[0] as unknown as TestEngine, 'GET', `/api/consultations/${consultation.id}`, t.reader)).body.data;
    expect(doc.practitioner_id).to.equal(winners[0].body.data.practitioner_id);
    expect(doc.status_history.filter((h: { action: string }) => h.action === 'pick')).to.have.length(1);

    // FHIR: one Patient per fødselsnummer (henvisning and Pridok share fnrs[0]), one ServiceRequest per DocumentId
    // and per JournalGuid.
    const fhir = r.ctx.fhir.forTenant(TEST_TENANT);
    for (const fnr of fnrs) {
      const found = await fhir.search<Patient>('Patient', { identifier: `${SYSTEMS.fnr}|${fnr}` });
      expect(found.resources, `Patients with fnr ${fnr}`).to.have.length(1);
    }
    expect(pridok[0].body.data!.patient).to.equal(`Patient/${(await fhir.search<Patient>('Patient', { identifier: `${SYSTEMS.fnr}|${fnrs[0]}` })).resources[0].id}`);
    for (const m of messages) {
      const found = await fhir.search<ServiceRequest>('ServiceRequest', { identifier: `${SYSTEMS.henvisningDocumentId}|${m.documentId}` });
      expect(found.resources, `ServiceRequests with DocumentId ${m.documentId}`).to.have.length(1);
    }
    const pridokSr = await fhir.search<ServiceRequest>('ServiceRequest', { identifier: `${SYSTEMS.pridokJournalGuid}|${journalGuid.toLowerCase()}` });
    expect(pridokSr.resources).to.have.length(1);
  });
});
