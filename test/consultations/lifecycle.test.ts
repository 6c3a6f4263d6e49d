import { expect } from 'chai';
import type { Encounter, Patient } from '@medplum/fhirtypes';
import { engine, TEST_TENANT } from '../support/harness.js';
import { api, createConsultation, makeReferral, ok, RESULT, testNationalId, tokens, uniqueOrg, type Tokens } from './support.js';

describe('consultations: lifecycle over HTTP', () => {
  const org = uniqueOrg('org-lifecycle');
  let t: Tokens;
  let dr: string;
  let other: string;

  before(async () => {
    t = await tokens(engine());
    dr = await t.practitioner('dr-lifecycle-1');
    other = await t.practitioner('dr-lifecycle-2');
  });

  const encounter = (id: string) => engine().ctx.fhir.forTenant(TEST_TENANT).read<Encounter>('Encounter', id);

  it('walks a referral through ready_for_pickup → pending_sp → in_progress → completed with Encounter, history and metrics', async () => {
    const eng = engine();
    const { serviceRequestId, patientId } = await makeReferral(eng, org);

    // create
    const created = await createConsultation(eng, t.supervisor, serviceRequestId);
    expect(created).to.include({ state: 'ready_for_pickup', encounter_status: 'planned', service_request_id: serviceRequestId, patient_id: patientId, organization_id: org });
    expect(created.result).to.equal(null);
    let enc = await encounter(created.encounter_id);
    expect(enc.status).to.equal('planned');
    expect(enc.basedOn).to.deep.equal([{ reference: `ServiceRequest/${serviceRequestId}` }]);
    expect(enc.subject).to.deep.equal({ reference: `Patient/${patientId}` });

    // creating again for the same referral returns the live consultation
    const again = await api(eng, 'POST', '/api/consultations', t.supervisor, { service_request_id: serviceRequestId });
    expect(again.status).to.equal(200);
    expect(again.body.data.id).to.equal(created.id);

    // illegal transitions before pick
    for (const [action, body] of [['start', undefined], ['finish', RESULT]] as const) {
      const res = await api(eng, 'POST', `/api/consultations/${created.id}/${action}`, dr, body);
      expect(res.status, action).to.equal(409);
      expect(res.body.error.type).to.equal('request_conflict');
      expect(res.body.error.message).to.equal(
        `Cannot ${action} consultation ${created.id}: its state is ready_for_pickup (it is waiting in the queue and has no practitioner yet); ` +
          `${action} is allowed only from ${action === 'start' ? 'pending_sp' : 'in_progress'}`,
      );
    }

    // pick
    const picked = await ok(api(eng, 'POST', `/api/consultations/${created.id}/pick`, dr));
    expect(picked).to.include({ state: 'pending_sp', encounter_status: 'arrived', practitioner_id: 'dr-lifecycle-1' });
    expect(Date.parse(picked.assigned_at)).to.be.at.least(Date.parse(created.created_at));
    enc = await encounter(created.encounter_id);
    expect(enc.status).to.equal('arrived');
    expect(enc.participant?.[0].individual).to.deep.equal({ reference: 'Practitioner/dr-lifecycle-1' });
    expect((await eng.ctx.fhir.forTenant(TEST_TENANT).read('Practitioner', 'dr-lifecycle-1')).resourceType).to.equal('Practitioner');

    // picking again, and starting by someone else
    const repick = await api(eng, 'POST', `/api/consultations/${created.id}/pick`, other);
    expect(repick.status).to.equal(409);
    expect(repick.body.error.message).to.match(/its state is pending_sp \(it is already assigned to a practitioner\)/);
    const foreignStart = await api(eng, 'POST', `/api/consultations/${created.id}/start`, other);
    expect(foreignStart.status).to.equal(403);
    expect(foreignStart.body.error.message).to.match(/assigned to another practitioner/);

    // start: session links sent to the patient through the outbox
    const started = await ok(api(eng, 'POST', `/api/consultations/${created.id}/start`, dr));
    expect(started).to.include({ state: 'in_progress', encounter_status: 'in-progress' });
    expect(started.sessions.chat_url).to.match(/\/chat\/[A-Za-z0-9_-]{32}$/);
    // no PUBLIC_URL configured: the links name the port this engine listens on
    expect(started.sessions.chat_url.startsWith(`http://localhost:${eng.port}/sessions/chat/`), started.sessions.chat_url).to.equal(true);
    expect(started.sessions.video_url).to.match(/\/video\/[A-Za-z0-9_-]{32}$/);
    const waiting = (Date.parse(started.starts_at) - Date.parse(started.created_at)) / 1000;
    expect(started.metrics.waiting_time_seconds).to.be.closeTo(waiting, 0.001);
    const outbox = await eng.ctx.database.db.collection('outbox').find({ 'payload.consultation_id': created.id }).toArray();
    expect(outbox).to.have.length(1);
    expect(outbox[0]).to.deep.include({ kind: 'consultation.session_links', category: 'transactional', recipient: { reference: `Patient/${patientId}` } });
    expect(outbox[0].payload).to.include({ chat_url: started.sessions.chat_url, video_url: started.sessions.video_url });
    expect(JSON.stringify(outbox[0])).not.to.match(/Danser|Line/); // no personal data copied into the outbox
    expect(started.patient_notified_at).to.be.a('string');
    // a plain reader does not see the session links (they grant access to the patient's room)
    const asReader = await ok(api(eng, 'GET', `/api/consultations/${created.id}`, t.reader));
    expect(asReader.sessions).to.equal(null);
    // the patient of an insurer referral is tagged no-marketing
    const patient = await eng.ctx.fhir.forTenant(TEST_TENANT).read<Patient>('Patient', patientId);
    expect(patient.meta?.tag).to.deep.include({ system: 'urn:hl7-engine:communication-preference', code: 'no-marketing', display: 'No marketing communication (referred by an insurer)' });

    // finish: validation first
    const badCode = await api(eng, 'POST', `/api/consultations/${created.id}/finish`, dr, { ...RESULT, icpc2: 'R00' });
    expect(badCode.status).to.equal(422);
    expect(badCode.body.error.invalid[0]).to.include({ entry: '$.icpc2' });
    expect(badCode.body.error.invalid[0].rules[0].description).to.equal('R00 is not an active code of the ICPC2 dictionary');
    const badOutcome = await api(eng, 'POST', `/api/consultations/${created.id}/finish`, dr, { ...RESULT, outcome: 'cured' });
    expect(badOutcome.status).to.equal(422);
    expect(badOutcome.body.error.invalid[0]).to.include({ entry: '$.outcome' });
    const badNid = await api(eng, 'POST', `/api/consultations/${created.id}/finish`, dr, { ...RESULT, patient_national_id: '12345678901' });
    expect(badNid.status).to.equal(422);
    expect(badNid.body.error.invalid[0]).to.include({ entry: '$.patient_national_id' });
    const missing = await api(eng, 'POST', `/api/consultations/${created.id}/finish`, dr, { notes: 'x' });
    expect(missing.status).to.equal(422);
    expect(missing.body.error.invalid.map((i: { entry: string }) => i.entry).sort()).to.deep.equal(['$.icpc2', '$.outcome']);
    expect((await ok(api(eng, 'GET', `/api/consultations/${created.id}`, dr))).state).to.equal('in_progress');

    const minorId = testNationalId(7);
    await new Promise((r) => setTimeout(r, 1_100)); // a consultation shorter than a minute still has a length
    const finished = await ok(api(eng, 'POST', `/api/consultations/${created.id}/finish`, dr, { ...RESULT, icpc2: ' r74 ', patient_national_id: minorId }));
    expect(finished).to.include({ state: 'completed', encounter_status: 'finished' });
    expect(finished.metrics.treatment_duration_seconds).to.be.closeTo((Date.parse(finished.ends_at) - Date.parse(finished.starts_at)) / 1000, 0.001);
    expect(finished.status_history.map((h: { action: string; state: string }) => `${h.action}:${h.state}`)).to.deep.equal([
      'create:ready_for_pickup',
      'pick:pending_sp',
      'start:in_progress',
      'finish:completed',
    ]);
    enc = await encounter(created.encounter_id);
    expect(enc.status).to.equal('finished');
    expect(enc.period).to.deep.equal({ start: finished.starts_at, end: finished.ends_at });
    expect(enc.statusHistory?.map((s) => s.status)).to.deep.equal(['planned', 'arrived', 'in-progress']);
    expect(enc.statusHistory?.[2].period).to.deep.equal({ start: finished.starts_at, end: finished.ends_at });
    expect(JSON.stringify(enc)).not.to.contain('R74');
    // Encounter.length to the second (UCUM s), not rounded to whole minutes
    expect(enc.length).to.deep.equal({ value: Math.round(finished.metrics.treatment_duration_seconds), unit: 's', system: 'http://unitsofmeasure.org', code: 's' });
    expect(enc.length?.value).to.be.at.least(1);

    // the result: content only for consultation_result:read
    const plain = await ok(api(eng, 'GET', `/api/consultations/${created.id}`, t.reader));
    expect(plain.result).to.deep.equal({ recorded: true, recorded_at: finished.ends_at });
    const full = await ok(api(eng, 'GET', `/api/consultations/${created.id}`, t.resultReader));
    expect(full.result).to.deep.equal({
      recorded: true,
      recorded_at: finished.ends_at,
      icpc2: 'R74',
      outcome: 'referred_gp',
      patient_national_id: minorId,
      patient_job_description: RESULT.patient_job_description,
      author_practitioner_id: 'dr-lifecycle-1',
      notes: RESULT.notes,
      policy_number: RESULT.policy_number,
    });
    const listed = await ok(api(eng, 'GET', `/api/consultations?organization_id=${org}&state=completed`, t.reader));
    expect(listed.find((c: { id: string }) => c.id === created.id).result).to.deep.equal({ recorded: true, recorded_at: finished.ends_at });

    // nothing moves a completed consultation
    for (const [action, body, token] of [
      ['finish', RESULT, dr],
      ['cancel', { reason: 'late' }, t.supervisor],
      ['pick', undefined, other],
      ['start', undefined, dr],
      ['assign', { practitioner_id: 'dr-x' }, t.supervisor],
    ] as const) {
      const res = await api(eng, 'POST', `/api/consultations/${created.id}/${action}`, token, body);
      expect(res.status, action).to.equal(409);
      expect(res.body.error.message).to.contain('its state is completed (it is already completed)');
    }
  });

  it('a supervisor assigns and re-assigns before the start', async () => {
    const eng = engine();
    const { serviceRequestId } = await makeReferral(eng, org);
    const c = await createConsultation(eng, t.supervisor, serviceRequestId);
    const noScope = await api(eng, 'POST', `/api/consultations/${c.id}/assign`, dr, { practitioner_id: 'dr-lifecycle-2' });
    expect(noScope.status).to.equal(403);
    expect(noScope.body.error.message).to.contain('consultations:supervise');
    const bad = await api(eng, 'POST', `/api/consultations/${c.id}/assign`, t.supervisor, { practitioner_id: 'not valid!' });
    expect(bad.status).to.equal(422);
    const a1 = await ok(api(eng, 'POST', `/api/consultations/${c.id}/assign`, t.supervisor, { practitioner_id: 'dr-lifecycle-1' }));
    expect(a1).to.include({ state: 'pending_sp', practitioner_id: 'dr-lifecycle-1', assigned_by: 'supervisor-1' });
    const a2 = await ok(api(eng, 'POST', `/api/consultations/${c.id}/assign`, t.supervisor, { practitioner_id: 'dr-lifecycle-2' }));
    expect(a2.practitioner_id).to.equal('dr-lifecycle-2');
    expect((await api(eng, 'POST', `/api/consultations/${c.id}/start`, dr)).status).to.equal(403);
    const started = await ok(api(eng, 'POST', `/api/consultations/${c.id}/start`, other));
    expect(started.state).to.equal('in_progress');
    const late = await api(eng, 'POST', `/api/consultations/${c.id}/assign`, t.supervisor, { practitioner_id: 'dr-lifecycle-1' });
    expect(late.status).to.equal(409);
    // re-sending links while in progress
    const resent = await ok(api(eng, 'POST', `/api/consultations/${c.id}/notify`, other));
    expect(resent.state).to.equal('in_progress');
    expect(await eng.ctx.database.db.collection('outbox').countDocuments({ 'payload.consultation_id': c.id })).to.equal(2);
    const enc = await encounter(c.encounter_id);
    expect(enc.participant?.map((p) => p.individual?.reference)).to.deep.equal(['Practitioner/dr-lifecycle-2']);
  });

  it('lists the queue oldest first with state, organization and date filters and paging', async () => {
    const eng = engine();
    const qOrg = uniqueOrg('org-queue');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { serviceRequestId } = await makeReferral(eng, qOrg);
      ids.push((await createConsultation(eng, t.supervisor, serviceRequestId)).id);
    }
    await ok(api(eng, 'POST', `/api/consultations/${ids[1]}/pick`, dr));
    const today = new Date().toISOString().slice(0, 10);

    const page1 = await api(eng, 'GET', `/api/consultations?organization_id=${qOrg}&page_size=2`, t.reader);
    expect(page1.status).to.equal(200);
    expect(page1.body.data.map((c: { id: string }) => c.id)).to.deep.equal(ids.slice(0, 2));
    expect(page1.body.paging).to.deep.equal({ page_number: 1, page_size: 2, total_entries: 3, total_pages: 2 });
    const page2 = await ok(api(eng, 'GET', `/api/consultations?organization_id=${qOrg}&page_size=2&page=2`, t.reader));
    expect(page2.map((c: { id: string }) => c.id)).to.deep.equal([ids[2]]);

    const ready = await ok(api(eng, 'GET', `/api/consultations?organization_id=${qOrg}&state=ready_for_pickup`, t.reader));
    expect(ready.map((c: { id: string }) => c.id)).to.deep.equal([ids[0], ids[2]]);
    const both = await ok(api(eng, 'GET', `/api/consultations?organization_id=${qOrg}&state=ready_for_pickup,pending_sp&date=${today}`, t.reader));
    expect(both).to.have.length(3);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    expect(await ok(api(eng, 'GET', `/api/consultations?organization_id=${qOrg}&date_from=${tomorrow}`, t.reader))).to.have.length(0);
    expect(await ok(api(eng, 'GET', `/api/consultations?organization_id=${qOrg}&date_to=${today}`, t.reader))).to.have.length(3);

    const bad = await api(eng, 'GET', `/api/consultations?state=done&page_size=9999&date_from=yesterday`, t.reader);
    expect(bad.status).to.equal(422);
    expect(bad.body.error.invalid.map((i: { entry: string }) => i.entry).sort()).to.deep.equal(['$.date_from', '$.page_size', '$.state']);
  });

  it('refuses bad requests with clear errors', async () => {
    const eng = engine();
    expect((await api(eng, 'GET', '/api/consultations', undefined)).status).to.equal(401);
    const noWrite = await api(eng, 'POST', '/api/consultations', t.reader, { service_request_id: 'x' });
    expect(noWrite.status).to.equal(403);
    const unknown = await api(eng, 'POST', '/api/consultations', t.supervisor, { service_request_id: 'does-not-exist' });
    expect(unknown.status).to.equal(422);
    expect(unknown.body.error.invalid[0].rules[0].description).to.equal('Referral ServiceRequest/does-not-exist does not exist');
    const extra = await api(eng, 'POST', '/api/consultations', t.supervisor, { service_request_id: 'a', color: 'red' });
    expect(extra.status).to.equal(422);
    expect(extra.body.error.invalid[0]).to.include({ entry: '$.color' });
    const missing = await api(eng, 'POST', '/api/consultations/no-such-id/pick', dr);
    expect(missing.status).to.equal(404);
    expect(missing.body.error).to.deep.equal({ type: 'not_found', message: 'Consultation no-such-id not found' });
  });
});
