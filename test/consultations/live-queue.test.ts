import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { mintLocalToken } from '../../src/platform/auth/keys.js';
import { OTHER_TENANT, startTestEngine, tmpDir, type TestEngine } from '../support/harness.js';
import { api, createConsultation, makeReferral, ok, RESULT, tokens, uniqueOrg, type Tokens } from './support.js';
import { SseClient } from './sse.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('consultations: the live queue (GET /api/consultations/events)', function () {
  this.timeout(60_000);
  const org = uniqueOrg('org-live');
  let e: TestEngine;
  let second: TestEngine;
  let t: Tokens;
  let reader: string;
  const streams: SseClient[] = [];

  const open = async (token: string, lastEventId?: string, eng = e) => {
    const s = await SseClient.open(`${eng.url}/api/consultations/events`, token, lastEventId);
    streams.push(s);
    return s;
  };

  before(async function () {
    this.timeout(120_000);
    // Two engines on one database and data directory (one token key): each is its own ConsultationService, so the
    // second sees the first's events only through the database.
    const dataDir = path.join(tmpDir(), `live-queue-${randomUUID().slice(0, 8)}`);
    fs.mkdirSync(dataDir, { recursive: true });
    const env = {
      DATA_DIR: dataDir,
      MONGODB_DATABASE: `test_live_queue_${randomUUID().slice(0, 8)}`,
      CONSULTATION_REPORT_SCHEDULE: 'off',
      CONSULTATION_STREAM_HEARTBEAT_SECONDS: '1',
      CONSULTATION_STREAM_POLL_MS: '100',
    };
    e = await startTestEngine({ env });
    second = await startTestEngine({ env });
    t = await tokens(e);
    reader = t.reader;
    // The first FHIR write of a fresh engine compiles the resource validation (seconds on a busy machine): done here.
    await makeReferral(e, 'warm-up');
  });
  afterEach(() => {
    for (const s of streams.splice(0)) s.close();
  });
  after(async () => {
    await second?.stop();
    await e?.stop();
  });

  it('delivers create, pick, start, finish and cancel in order, with ids, states and times and no result', async () => {
    const s = await open(reader);
    expect(s.status).to.equal(200);
    expect(s.headers.get('content-type')).to.match(/^text\/event-stream/);
    const dr = await t.practitioner('dr-live-1');
    const c1 = await createConsultation(e, t.supervisor, (await makeReferral(e, org)).serviceRequestId);
    await ok(api(e, 'POST', `/api/consultations/${c1.id}/pick`, dr));
    await ok(api(e, 'POST', `/api/consultations/${c1.id}/start`, dr));
    const done = await ok(api(e, 'POST', `/api/consultations/${c1.id}/finish`, dr, RESULT));
    const c2 = await createConsultation(e, t.supervisor, (await makeReferral(e, org)).serviceRequestId);
    await ok(api(e, 'POST', `/api/consultations/${c2.id}/cancel`, t.supervisor, { reason: 'patient declined on the phone' }));

    const events = await s.waitForEvents(6);
    expect(events.map((ev) => [ev.data.action, ev.data.consultation.id, ev.data.consultation.state])).to.deep.equal([
      ['create', c1.id, 'ready_for_pickup'],
      ['pick', c1.id, 'pending_sp'],
      ['start', c1.id, 'in_progress'],
      ['finish', c1.id, 'completed'],
      ['create', c2.id, 'ready_for_pickup'],
      ['cancel', c2.id, 'cancelled'],
    ]);
    const ids = events.map((ev) => Number(ev.id));
    expect(ids.every((id, i) => i === 0 || id === ids[i - 1] + 1), `consecutive ids ${ids}`).to.equal(true);
    expect(events.every((ev) => ev.event === 'consultation' && ev.data.seq === Number(ev.id))).to.equal(true);
    expect(events[3].data.consultation).to.deep.include({
      practitioner_id: 'dr-live-1',
      patient_id: c1.patient_id,
      service_request_id: c1.service_request_id,
      starts_at: done.starts_at,
      ends_at: done.ends_at,
    });
    const text = JSON.stringify(events);
    for (const secret of [RESULT.icpc2, RESULT.notes, RESULT.policy_number, RESULT.patient_job_description, 'icpc2', 'outcome', 'declined']) {
      expect(text).not.to.contain(secret);
    }
  });

  it('resumes after a reconnect from Last-Event-ID without losing or repeating an event', async () => {
    const dr = await t.practitioner('dr-live-2');
    const first = await open(reader);
    const c = await createConsultation(e, t.supervisor, (await makeReferral(e, org)).serviceRequestId);
    await ok(api(e, 'POST', `/api/consultations/${c.id}/pick`, dr));
    const seen = await first.waitForEvents(2);
    const lastId = seen[1].id!;
    first.close();

    // While nobody listens: start and finish.
    await ok(api(e, 'POST', `/api/consultations/${c.id}/start`, dr));
    await ok(api(e, 'POST', `/api/consultations/${c.id}/finish`, dr, RESULT));

    const again = await open(reader, lastId);
    const missed = await again.waitForEvents(2);
    await sleep(300);
    expect(again.events.map((ev) => [ev.data.action, ev.data.consultation.id, ev.id])).to.deep.equal([
      ['start', c.id, String(Number(lastId) + 1)],
      ['finish', c.id, String(Number(lastId) + 2)],
    ]);
    expect(missed).to.have.length(2);

    // The query parameter `after` does the same for a first connection (EventSource cannot set the header).
    const byQuery = await SseClient.open(`${e.url}/api/consultations/events?after=${lastId}`, reader);
    streams.push(byQuery);
    expect((await byQuery.waitForEvents(2)).map((ev) => ev.data.action)).to.deep.equal(['start', 'finish']);
  });

  it('sees the events another engine process writes to the same database', async () => {
    const onSecond = await open(reader, undefined, second);
    const c = await createConsultation(e, t.supervisor, (await makeReferral(e, org)).serviceRequestId);
    const [ev] = await onSecond.waitForEvents(1);
    expect(ev.data).to.deep.include({ action: 'create' });
    expect(ev.data.consultation.id).to.equal(c.id);
    // Writers on both engines share one sequence: an event written by the second engine follows in the same stream.
    await ok(api(second, 'POST', `/api/consultations/${c.id}/cancel`, t.supervisor, { reason: 'duplicate' }));
    const both = await onSecond.waitForEvents(2);
    expect(Number(both[1].id)).to.equal(Number(both[0].id) + 1);
    expect(both[1].data.action).to.equal('cancel');
  });

  it('records the event of a change whose event write failed at the start-up repair, without a hole in the numbering', async () => {
    const s = await open(reader);
    const dr = await t.practitioner('dr-live-3');
    const c = await createConsultation(e, t.supervisor, (await makeReferral(e, org)).serviceRequestId);
    await s.waitForEvents(1);
    // The database refuses the pick's event once: the pick is saved, its claim stays pending.
    const events = e.ctx.consultations.events;
    const record = events.record.bind(events);
    events.record = async () => {
      events.record = record;
      throw new Error('database unavailable');
    };
    const picked = await ok(api(e, 'POST', `/api/consultations/${c.id}/pick`, dr));
    expect(picked.state).to.equal('pending_sp');
    await sleep(500);
    expect(s.events.map((ev) => ev.data.action)).to.deep.equal(['create']);
    const claims = e.ctx.database.db.collection('consultation_changes');
    expect(await claims.countDocuments({ consultation_id: c.id, action: 'pick', pending: true })).to.equal(1);

    // An engine starting later finds the claim pending for longer than STALE_CLAIM_MS and records the event.
    await claims.updateOne({ consultation_id: c.id, action: 'pick' }, { $set: { at: new Date(Date.now() - 120_000) } });
    await e.ctx.consultations.repair();
    const [created, pick] = await s.waitForEvents(2);
    expect(pick.data).to.deep.include({ action: 'pick' });
    expect(pick.data.consultation).to.deep.include({ id: c.id, state: 'pending_sp', practitioner_id: 'dr-live-3' });
    expect(Number(pick.id)).to.equal(Number(created.id) + 1);
    expect(await claims.countDocuments({ consultation_id: c.id, pending: true })).to.equal(0);
    // A second repair records nothing twice.
    await e.ctx.consultations.repair();
    await sleep(300);
    expect(s.events).to.have.length(2);
  });

  it('shows another tenant none of these events, and keeps idle streams alive with heartbeat comments', async () => {
    const otherToken = await mintLocalToken(e.config.dataDir, { scope: 'consultations:read', sub: 'reader-b', clientId: OTHER_TENANT });
    const other = await open(otherToken);
    const mine = await open(reader);
    const c = await createConsultation(e, t.supervisor, (await makeReferral(e, org)).serviceRequestId);
    await ok(api(e, 'POST', `/api/consultations/${c.id}/cancel`, t.supervisor, { reason: 'test' }));
    await mine.waitForEvents(2);
    // Two heartbeats (1 s apart) prove the other tenant's stream is open and has had time to see them.
    await other.waitUntil(() => other.comments.filter((x) => x.startsWith('heartbeat')).length >= 2, 10_000, () => 'two heartbeats');
    expect(other.events).to.deep.equal([]);
  });

  it('refuses a missing token, a token without consultations:read and a position it never gave out', async () => {
    const anon = await fetch(`${e.url}/api/consultations/events`);
    expect(anon.status).to.equal(401);
    const noScope = await open(await mintLocalToken(e.config.dataDir, { scope: 'consultations:write', sub: 'x', clientId: 'le-1' }));
    expect(noScope.status).to.equal(403);
    const garbage = await open(reader, 'abc');
    expect(garbage.status).to.equal(422);
    expect(garbage.error.error.invalid[0]).to.deep.include({ entry: '$.Last-Event-ID' });
    const ahead = await open(reader, '999999999');
    expect(ahead.status).to.equal(422);
    expect(ahead.error.error.invalid[0].rules[0].description).to.match(/^is ahead of the stream: the last event is \d+$/);
  });
});
