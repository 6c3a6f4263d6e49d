import { expect } from 'chai';
import type { Bundle, ServiceRequest } from '@medplum/fhirtypes';
import { engine, OTHER_TENANT, TEST_TENANT } from '../support/harness.js';
import { api, createConsultation, makeReferral, ok, RESULT, tokens, uniqueOrg, type Tokens } from './support.js';

const fhirGet = async (path: string, token: string) => {
  const res = await fetch(`${engine().url}/fhir/${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
  expect(res.status, path).to.equal(200);
  return (await res.json()) as Bundle;
};

describe("consultations: the secretary's create booking", () => {
  const org = uniqueOrg('org-booking');
  let t: Tokens;
  let secretary: string;

  before(async () => {
    t = await tokens(engine());
    secretary = await engine().token('consultations:book consultations:read', { sub: 'secretary-1' });
  });

  it('needs the scope consultations:book: consultations:write alone is refused', async () => {
    const { serviceRequestId } = await makeReferral(engine(), org);
    const res = await api(engine(), 'POST', '/api/consultations/bookings', t.supervisor, { service_request_id: serviceRequestId });
    expect(res.status).to.equal(403);
    expect(res.body.error.message).to.equal('Your scope does not allow to access this resource. Missing allowances: consultations:book');
    const list = await ok(api(engine(), 'GET', `/api/consultations?organization_id=${org}`, t.reader));
    expect(list).to.deep.equal([]);
  });

  it('places the referral in the queue as booked by the secretary and records an AuditEvent of the action', async () => {
    const { serviceRequestId, patientId } = await makeReferral(engine(), org);
    const booked = await ok(api(engine(), 'POST', '/api/consultations/bookings', secretary, { service_request_id: serviceRequestId }), 201);
    expect(booked).to.include({ state: 'ready_for_pickup', service_request_id: serviceRequestId, booked_by: 'secretary-1', created_by: 'secretary-1' });
    expect(Date.parse(booked.booked_at)).to.equal(Date.parse(booked.created_at));
    const queue = await ok(api(engine(), 'GET', `/api/consultations?organization_id=${org}&state=ready_for_pickup`, t.reader));
    expect(queue.map((c: { id: string; booked_by: string }) => [c.id, c.booked_by])).to.deep.equal([[booked.id, 'secretary-1']]);

    // A second click returns the same booking and records nothing more.
    const again = await api(engine(), 'POST', '/api/consultations/bookings', secretary, { service_request_id: serviceRequestId });
    expect(again.status).to.equal(200);
    expect(again.body.data.id).to.equal(booked.id);

    await engine().ctx.audit.flush();
    const audit = await fhirGet(`AuditEvent?patient=Patient/${patientId}&subtype=create`, await engine().token('system/*.read'));
    const events = (audit.entry ?? []).map((x) => x.resource as any);
    expect(events).to.have.length(1);
    expect(events[0].action).to.equal('C');
    expect(events[0].agent[0].who.identifier.value).to.equal('secretary-1');
    expect(events[0].agent[0].altId).to.equal(TEST_TENANT);
    expect(events[0].entity.map((x: any) => x.what.reference)).to.have.members([`Patient/${patientId}`, `Encounter/${booked.encounter_id}`, `ServiceRequest/${serviceRequestId}`]);
  });

  it('cannot book another tenant\'s referral', async () => {
    const { serviceRequestId } = await makeReferral(engine(), org);
    const other = await engine().token('consultations:book', { sub: 'secretary-b', clientId: OTHER_TENANT });
    const res = await api(engine(), 'POST', '/api/consultations/bookings', other, { service_request_id: serviceRequestId });
    expect(res.status).to.equal(422);
    expect(res.body.error.invalid[0].rules[0].description).to.equal(`Referral ServiceRequest/${serviceRequestId} does not exist`);
  });
});

describe("consultations: a patient's history for the practitioner", () => {
  const org = uniqueOrg('org-history');
  let t: Tokens;
  let patientId: string;
  let finished: any;
  let cancelled: any;

  before(async () => {
    const eng = engine();
    t = await tokens(eng);
    const first = await makeReferral(eng, org);
    patientId = first.patientId;
    const dr = await t.practitioner('dr-history-1');
    const c1 = await createConsultation(eng, t.supervisor, first.serviceRequestId);
    await ok(api(eng, 'POST', `/api/consultations/${c1.id}/pick`, dr));
    await ok(api(eng, 'POST', `/api/consultations/${c1.id}/start`, dr));
    finished = await ok(api(eng, 'POST', `/api/consultations/${c1.id}/finish`, dr, RESULT));
    // A second referral of the same patient, cancelled while waiting.
    const sr2 = await eng.ctx.fhir.forTenant(TEST_TENANT).create<ServiceRequest>({
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: `Patient/${patientId}` },
      performer: [{ reference: `Organization/${org}` }],
    });
    const c2 = await createConsultation(eng, t.supervisor, sr2.id!);
    cancelled = await ok(api(eng, 'POST', `/api/consultations/${c2.id}/cancel`, t.supervisor, { reason: 'patient better' }));
    // Another patient's consultation, which the history must not show.
    await createConsultation(eng, t.supervisor, (await makeReferral(eng, org)).serviceRequestId);
  });

  const history = (token: string, id = patientId) => api(engine(), 'GET', `/api/consultations/patients/${id}/history`, token);

  it('lists the patient\'s consultations newest first with states, times and practitioner, without the code for readers', async () => {
    const data = await ok(history(t.reader));
    expect(data.map((h: { id: string }) => h.id)).to.deep.equal([cancelled.id, finished.id]);
    expect(data[1]).to.deep.include({
      state: 'completed',
      practitioner_id: 'dr-history-1',
      created_at: finished.created_at,
      assigned_at: finished.assigned_at,
      starts_at: finished.starts_at,
      ends_at: finished.ends_at,
    });
    expect(data[1].status_history.map((h: { action: string }) => h.action)).to.deep.equal(['create', 'pick', 'start', 'finish']);
    expect(data[0]).to.deep.include({ state: 'cancelled', practitioner_id: null, cancelled_at: cancelled.cancelled_at });
    for (const h of data) expect(h).not.to.have.property('icpc2');
    expect(JSON.stringify(data)).not.to.contain(RESULT.icpc2);
    expect(JSON.stringify(data)).not.to.contain('patient better');
  });

  it('shows the ICPC-2 code to a token with consultation_result:read (and no other result field)', async () => {
    const data = await ok(history(t.resultReader));
    expect(data.map((h: { id: string; icpc2: string | null }) => [h.id, h.icpc2])).to.deep.equal([
      [cancelled.id, null],
      [finished.id, 'R74'],
    ]);
    const text = JSON.stringify(data);
    for (const other of [RESULT.notes, RESULT.policy_number, RESULT.patient_job_description, RESULT.outcome]) expect(text).not.to.contain(other);
  });

  it('answers 404 for another tenant and for an unknown patient, 403 without consultations:read', async () => {
    const otherTenant = await engine().token('consultations:read consultation_result:read', { clientId: OTHER_TENANT });
    expect((await history(otherTenant)).status).to.equal(404);
    expect((await history(t.reader, 'no-such-patient')).status).to.equal(404);
    const noScope = await history(await engine().token('consultation_result:read'));
    expect(noScope.status).to.equal(403);
  });
});
