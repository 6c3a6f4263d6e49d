import { expect } from 'chai';
import type { Encounter, ServiceRequest } from '@medplum/fhirtypes';
import { engine, TEST_TENANT } from '../support/harness.js';
import { api, createConsultation, makeReferral, ok, tokens, uniqueOrg, type Tokens } from './support.js';

describe('consultations: concurrent picks and cancellation', () => {
  const org = uniqueOrg('org-race');
  let t: Tokens;

  before(async () => {
    t = await tokens(engine());
  });

  it('of eight practitioners picking the same consultation at once exactly one wins; the others get 409', async () => {
    const eng = engine();
    for (let round = 0; round < 3; round++) {
      const { serviceRequestId } = await makeReferral(eng, org);
      const c = await createConsultation(eng, t.supervisor, serviceRequestId);
      const ids = Array.from({ length: 8 }, (_, i) => `dr-race-${round}-${i}`);
      const toks = await Promise.all(ids.map((id) => t.practitioner(id)));
      const results = await Promise.all(toks.map((tok) => api(eng, 'POST', `/api/consultations/${c.id}/pick`, tok)));
      const winners = results.filter((r) => r.status === 200);
      const losers = results.filter((r) => r.status !== 200);
      expect(winners, JSON.stringify(results.map((r) => r.status))).to.have.length(1);
      for (const l of losers) {
        expect(l.status).to.equal(409);
        expect(l.body.error.message).to.contain('its state is pending_sp');
      }
      const doc = await ok(api(eng, 'GET', `/api/consultations/${c.id}`, t.reader));
      expect(doc.practitioner_id).to.equal(winners[0].body.data.practitioner_id);
      expect(doc.status_history.filter((h: { action: string }) => h.action === 'pick')).to.have.length(1);
      const enc = await eng.ctx.fhir.forTenant(TEST_TENANT).read<Encounter>('Encounter', doc.encounter_id);
      expect(enc.participant?.map((p) => p.individual?.reference)).to.deep.equal([`Practitioner/${doc.practitioner_id}`]);
    }
  });

  it('concurrent different changes are serialized: none is lost, only one lifecycle action wins', async () => {
    const eng = engine();
    const dr = await t.practitioner('dr-race-mixed');
    for (let round = 0; round < 3; round++) {
      const { serviceRequestId } = await makeReferral(eng, org);
      const c = await createConsultation(eng, t.supervisor, serviceRequestId);
      await ok(api(eng, 'POST', `/api/consultations/${c.id}/pick`, dr));
      await ok(api(eng, 'POST', `/api/consultations/${c.id}/start`, dr));
      // five re-sends of the links race one finish and one cancel
      const calls = [
        ...Array.from({ length: 5 }, () => api(eng, 'POST', `/api/consultations/${c.id}/notify`, dr)),
        api(eng, 'POST', `/api/consultations/${c.id}/finish`, dr, { icpc2: 'R74', outcome: 'helped', notes: 'mixed race' }),
        api(eng, 'POST', `/api/consultations/${c.id}/cancel`, t.supervisor, { reason: 'race' }),
      ];
      const results = await Promise.all(calls);
      const [finish, cancel] = results.slice(5);
      expect([finish.status, cancel.status].sort(), JSON.stringify([finish.body, cancel.body])).to.deep.equal([200, 409]);
      const doc = await ok(api(eng, 'GET', `/api/consultations/${c.id}`, t.resultReader));
      const lifecycle = doc.status_history.map((h: { action: string }) => h.action);
      if (finish.status === 200) {
        expect(doc.state).to.equal('completed');
        expect(doc.result).to.include({ icpc2: 'R74', outcome: 'helped', notes: 'mixed race' });
        expect(lifecycle).to.deep.equal(['create', 'pick', 'start', 'finish']);
      } else {
        expect(doc.state).to.equal('cancelled');
        expect(doc.result).to.equal(null);
        expect(lifecycle).to.deep.equal(['create', 'pick', 'start', 'cancel']);
      }
      expect(doc.starts_at).to.be.a('string');
      expect(doc.sessions).to.equal(null); // supervisor-less reader token: links hidden
      // every change applied exactly once, in revision order
      const changes = await eng.ctx.database.db.collection('consultation_changes').find({ consultation_id: c.id }).sort({ rev: 1 }).toArray();
      expect(changes.map((ch) => ch.rev)).to.deep.equal(changes.map((_, i) => i + 1));
      expect(changes.every((ch) => ch.pending === false && ch.change === undefined)).to.equal(true);
      const raw = await eng.ctx.database.db.collection('consultations').findOne({ _id: c.id as never });
      expect(raw!.rev).to.equal(changes.length + 1);
    }
  });

  it('concurrent creates for one referral make one consultation', async () => {
    const eng = engine();
    const { serviceRequestId } = await makeReferral(eng, org);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => api(eng, 'POST', '/api/consultations', t.supervisor, { service_request_id: serviceRequestId })),
    );
    expect(results.filter((r) => r.status === 201)).to.have.length(1);
    expect(results.filter((r) => r.status === 200)).to.have.length(4);
    expect(new Set(results.map((r) => r.body.data.id)).size).to.equal(1);
    expect(await eng.ctx.database.db.collection('consultations').countDocuments({ service_request_id: serviceRequestId })).to.equal(1);
  });

  it('cancels from every state before completed, with a reason, and then refuses every transition', async () => {
    const eng = engine();
    const dr = await t.practitioner('dr-cancel-1');
    const other = await t.practitioner('dr-cancel-2');
    const reach = async (state: string) => {
      const { serviceRequestId } = await makeReferral(eng, org);
      const c = await createConsultation(eng, t.supervisor, serviceRequestId);
      if (state !== 'ready_for_pickup') await ok(api(eng, 'POST', `/api/consultations/${c.id}/pick`, dr));
      if (state === 'in_progress') await ok(api(eng, 'POST', `/api/consultations/${c.id}/start`, dr));
      return c;
    };

    // ready_for_pickup: only a supervisor may cancel
    const c1 = await reach('ready_for_pickup');
    expect((await api(eng, 'POST', `/api/consultations/${c1.id}/cancel`, dr, { reason: 'x' })).status).to.equal(403);
    const noReason = await api(eng, 'POST', `/api/consultations/${c1.id}/cancel`, t.supervisor, {});
    expect(noReason.status).to.equal(422);
    expect(noReason.body.error.invalid[0]).to.include({ entry: '$.reason' });
    const x1 = await ok(api(eng, 'POST', `/api/consultations/${c1.id}/cancel`, t.supervisor, { reason: 'Patient declined by phone' }));
    expect(x1).to.include({ state: 'cancelled', encounter_status: 'cancelled', cancel_reason: 'Patient declined by phone' });
    expect(x1.status_history.at(-1)).to.include({ action: 'cancel', state: 'cancelled', by: 'supervisor-1', reason: 'Patient declined by phone' });
    expect((await eng.ctx.fhir.forTenant(TEST_TENANT).read<Encounter>('Encounter', c1.encounter_id)).status).to.equal('cancelled');

    // pending_sp: the assigned practitioner may, another may not
    const c2 = await reach('pending_sp');
    const foreign = await api(eng, 'POST', `/api/consultations/${c2.id}/cancel`, other, { reason: 'x' });
    expect(foreign.status).to.equal(403);
    expect((await ok(api(eng, 'POST', `/api/consultations/${c2.id}/cancel`, dr, { reason: 'Not reachable' }))).state).to.equal('cancelled');

    // in_progress
    const c3 = await reach('in_progress');
    const x3 = await ok(api(eng, 'POST', `/api/consultations/${c3.id}/cancel`, t.supervisor, { reason: 'Connection lost' }));
    expect(x3.state).to.equal('cancelled');
    const enc3 = await eng.ctx.fhir.forTenant(TEST_TENANT).read<Encounter>('Encounter', c3.encounter_id);
    expect(enc3.statusHistory?.map((s) => s.status)).to.deep.equal(['planned', 'arrived', 'in-progress']);

    for (const c of [c1, c3]) {
      for (const [action, body, token] of [
        ['pick', undefined, other],
        ['start', undefined, dr],
        ['finish', { icpc2: 'R74', outcome: 'helped' }, dr],
        ['cancel', { reason: 'again' }, t.supervisor],
      ] as const) {
        const res = await api(eng, 'POST', `/api/consultations/${c.id}/${action}`, token, body);
        expect(res.status, `${action} after cancel`).to.equal(409);
        expect(res.body.error.message).to.contain('its state is cancelled (it has been cancelled)');
      }
    }

    // after a cancellation the referral can get a new consultation
    const renewed = await api(eng, 'POST', '/api/consultations', t.supervisor, { service_request_id: c1.service_request_id });
    expect(renewed.status).to.equal(201);
    expect(renewed.body.data.id).not.to.equal(c1.id);
    expect(renewed.body.data.encounter_id).not.to.equal(c1.encounter_id);
  });

  it('a referral revoked by its sender cancels the waiting consultation at the next pick', async () => {
    const eng = engine();
    const dr = await t.practitioner('dr-cancel-3');
    const { serviceRequestId } = await makeReferral(eng, org);
    const c = await createConsultation(eng, t.supervisor, serviceRequestId);
    const sr = await eng.ctx.fhir.forTenant(TEST_TENANT).read<ServiceRequest>('ServiceRequest', serviceRequestId);
    await eng.ctx.fhir.forTenant(TEST_TENANT).update({ ...sr, status: 'revoked' });
    const res = await api(eng, 'POST', `/api/consultations/${c.id}/pick`, dr);
    expect(res.status).to.equal(409);
    expect(res.body.error.message).to.equal(`Consultation ${c.id} is cancelled: its referral ServiceRequest/${serviceRequestId} is revoked`);
    const after = await ok(api(eng, 'GET', `/api/consultations/${c.id}`, t.reader));
    expect(after).to.include({ state: 'cancelled', cancel_reason: 'referral revoked by the sender' });
    const create = await api(eng, 'POST', '/api/consultations', t.supervisor, { service_request_id: serviceRequestId });
    expect(create.status).to.equal(409);
  });
});
