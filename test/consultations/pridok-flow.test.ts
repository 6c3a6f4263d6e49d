import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Encounter, Patient } from '@medplum/fhirtypes';
import { pridokHeaders } from '../support/tenants.js';
import { startTestEngine, type TestEngine, TEST_TENANT } from '../support/harness.js';
import { api, ok, RESULT, tokens } from './support.js';


describe('consultations: from a Pridok (insurer) referral', function () {
  this.timeout(60_000);
  let e: TestEngine;
  before(async () => {
    e = await startTestEngine({ env: { CONSULTATION_REPORT_SCHEDULE: 'off' } });
  });
  after(async () => {
    await e?.stop();
  });

  it('reuses the planned Encounter of the referral, keeps the no-marketing tag single, sends links without contact data', async () => {
    const raw = Buffer.from(
      JSON.stringify({
        JournalGuid: randomUUID(),
        PID: '13116900216',
        FormatId: 'http://ehelse.no/xmlstds/henvisning/2017-11-30',
        MessageTimestamp: new Date().toISOString(),
        Firstname: 'Line',
        Lastname: 'Danser',
        Email: 'line.danser@example.com',
        PhoneNumber: '+4712345678',
      }),
    );
    const hook = await fetch(`${e.url}/api/webhooks/pridok/referrals`, {
      method: 'POST',
      headers: pridokHeaders(raw),
      body: new Uint8Array(raw),
    });
    expect(hook.status).to.equal(201);
    const refs = ((await hook.json()) as { data: { patient: string; service_request: string; encounter: string } }).data;
    const [, srId] = refs.service_request.split('/');
    const [, plannedEncounterId] = refs.encounter.split('/');

    const t = await tokens(e);
    const dr = await t.practitioner('dr-pridok-1');
    const created = await ok(api(e, 'POST', '/api/consultations', t.supervisor, { service_request_id: srId, organization_id: 'if-insurance' }), 201);
    expect(created.encounter_id).to.equal(plannedEncounterId);
    expect(created.organization_id).to.equal('if-insurance');
    await ok(api(e, 'POST', `/api/consultations/${created.id}/pick`, dr));
    const started = await ok(api(e, 'POST', `/api/consultations/${created.id}/start`, dr));
    const done = await ok(api(e, 'POST', `/api/consultations/${created.id}/finish`, dr, RESULT));

    const enc = await e.ctx.fhir.forTenant(TEST_TENANT).read<Encounter>('Encounter', plannedEncounterId);
    expect(enc).to.deep.include({ status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' } });
    expect(enc.basedOn).to.deep.equal([{ reference: refs.service_request }]);
    expect(enc.period).to.deep.equal({ start: done.starts_at, end: done.ends_at });
    expect(enc.identifier).to.deep.include({ system: 'urn:hl7-engine:consultation', value: created.id });
    const history = await e.ctx.fhir.forTenant(TEST_TENANT).history<Encounter>('Encounter', plannedEncounterId);
    // ingestion's planned version, then the consultation's own (planned + its identifier), then one per transition
    expect(history.map((h) => h.status)).to.deep.equal(['finished', 'in-progress', 'arrived', 'planned', 'planned']);
    expect(history[4].identifier ?? []).not.to.deep.include({ system: 'urn:hl7-engine:consultation', value: created.id });
    expect(history[3].identifier).to.deep.include({ system: 'urn:hl7-engine:consultation', value: created.id });

    const patient = await e.ctx.fhir.forTenant(TEST_TENANT).read<Patient>('Patient', refs.patient.split('/')[1]);
    expect(patient.meta?.tag?.filter((tag) => tag.code === 'no-marketing')).to.have.length(1);

    const outbox = await e.ctx.database.db.collection('outbox').find({ 'payload.consultation_id': created.id }).sort({ created_at: 1 }).toArray();
    expect(outbox.map((m) => m.kind)).to.deep.equal(['consultation.session_links', 'consultation.completed']);
    expect(outbox[0].recipient).to.deep.equal({ reference: refs.patient });
    expect(outbox[0].payload.video_url).to.equal(started.sessions.video_url);
    const text = JSON.stringify(outbox);
    for (const personal of ['line.danser@example.com', '+4712345678', '13116900216', 'Danser']) expect(text).not.to.contain(personal);
  });
});
