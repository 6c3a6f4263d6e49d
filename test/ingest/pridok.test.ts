import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Encounter, Patient, Resource, ServiceRequest } from '@medplum/fhirtypes';
import { signBody } from '../../src/ingest/pridok/service.js';
import { PATIENT_TAGS, SYSTEMS } from '../../src/lib/fhir-systems.js';
import { startTestEngine, TEST_TENANT, type TestEngine } from '../support/harness.js';
import { pridokHeaders, pridokPayload, TEST_PRIDOK_SECRET } from '../support/tenants.js';
import { ingest, sample } from './support.js';

const SECRET = TEST_PRIDOK_SECRET;

const payload = pridokPayload;

async function post(e: TestEngine, body: unknown, signature?: string | null): Promise<Response> {
  const raw = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const headers = pridokHeaders(raw);
  if (signature === null) delete headers['x-pridok-signature'];
  else if (signature !== undefined) headers['x-pridok-signature'] = signature;
  return fetch(`${e.url}/api/webhooks/pridok/referrals`, { method: 'POST', headers, body: new Uint8Array(raw) });
}

interface Refs {
  patient: string;
  service_request: string;
  encounter: string;
  message_id: string;
}

async function read<T extends Resource>(e: TestEngine, ref: string): Promise<T> {
  const [type, id] = ref.split('/');
  return e.ctx.fhir.forTenant(TEST_TENANT).read<T>(type, id);
}

async function countMessages(e: TestEngine): Promise<number> {
  const token = await e.token('messages:read');
  const res = await fetch(`${e.url}/api/messages?source=pridok&page_size=1`, { headers: { authorization: `Bearer ${token}` } });
  return ((await res.json()) as { paging: { total_entries: number } }).paging.total_entries;
}

describe('Pridok referral webhook (POST /api/webhooks/pridok/referrals)', function () {
  this.timeout(60_000);
  let e: TestEngine;
  before(async () => {
    e = await startTestEngine();
  });
  after(async () => {
    await e?.stop();
  });

  it('answers 503 with a clear message while no tenant has a webhook secret', async () => {
    const bare = await startTestEngine({ env: { TENANTS: JSON.stringify([{ id: TEST_TENANT }]) } });
    try {
      const res = await post(bare, payload());
      expect(res.status).to.equal(503);
      const body = (await res.json()) as { error: { type: string; message: string } };
      expect(body.error.type).to.equal('not_configured');
      expect(body.error.message).to.include('pridok_webhook_secret');
    } finally {
      await bare.stop();
    }
  });

  it('creates Patient (tagged insurer-referred, no marketing), ServiceRequest and a planned Encounter: 201 with the references', async () => {
    const p = payload();
    const res = await post(e, p);
    expect(res.status).to.equal(201);
    const { data } = (await res.json()) as { data: Refs };
    expect(data.patient).to.match(/^Patient\/[0-9a-f-]{36}$/);
    const patient = await read<Patient>(e, data.patient);
    expect(patient.identifier).to.deep.equal([{ system: SYSTEMS.fnr, value: '13116900216' }]);
    expect(patient.name?.[0]).to.include({ family: 'Danser' });
    expect(patient.telecom).to.deep.include({ system: 'email', value: 'line.danser@example.com' });
    const tags = patient.meta?.tag?.map((t) => `${t.system}|${t.code}`);
    expect(tags).to.include.members([`${PATIENT_TAGS.insurerReferred.system}|insurer-referred`, `${PATIENT_TAGS.noMarketing.system}|no-marketing`]);
    const sr = await read<ServiceRequest>(e, data.service_request);
    expect(sr.identifier).to.deep.equal([{ system: SYSTEMS.pridokJournalGuid, value: p.JournalGuid }]);
    expect(sr.subject?.reference).to.equal(data.patient);
    expect(sr.extension?.find((x) => x.url === 'https://hl7-engine.dev/fhir/StructureDefinition/pridok-format-id')?.valueString).to.equal(p.FormatId);
    const enc = await read<Encounter>(e, data.encounter);
    expect(enc.status).to.equal('planned');
    expect(enc.basedOn?.[0].reference).to.equal(data.service_request);
  });

  it('the same JournalGuid again: 200 with the same references, nothing new', async () => {
    const p = payload();
    const first = (await (await post(e, p)).json()) as { data: Refs };
    const before = await read<ServiceRequest>(e, first.data.service_request);
    const res = await post(e, p);
    expect(res.status).to.equal(200);
    const again = (await res.json()) as { data: Refs };
    expect(again.data).to.deep.equal(first.data);
    expect((await read<ServiceRequest>(e, first.data.service_request)).meta?.versionId).to.equal(before.meta?.versionId);
  });

  it('reuses the Patient a henvisning created for the same fødselsnummer and adds the tags to it', async () => {
    const rec = await ingest(e, sample('Henvisning_ny_tilstand_v2-0_Ny.xml'));
    expect(rec.status).to.equal('1');
    const token = await e.token('messages:read');
    const m = (await (await fetch(`${e.url}/api/messages/${rec.messageId}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { data: { fhir: { reference: string }[] } };
    const henvisningPatient = m.data.fhir.find((f) => f.reference.startsWith('Patient/'))!.reference;
    const { data } = (await (await post(e, payload())).json()) as { data: Refs };
    expect(data.patient).to.equal(henvisningPatient);
    expect((await read<Patient>(e, data.patient)).meta?.tag?.some((t) => t.code === 'no-marketing')).to.equal(true);
  });

  it('finds a Patient created elsewhere (random id, e.g. through the FHIR API) by its fødselsnummer', async () => {
    const fhir = e.ctx.fhir.forTenant(TEST_TENANT);
    const existing = await fhir.create<Patient>({
      resourceType: 'Patient',
      identifier: [{ system: SYSTEMS.fnr, value: '21016400952' }],
      name: [{ family: 'Dottno', given: ['Finn'] }],
      birthDate: '1964-01-21',
    });
    const res = await post(e, payload({ PID: '21016400952', Firstname: 'Finn', Lastname: 'Dottno', Email: undefined }));
    expect(res.status).to.equal(201);
    const { data } = (await res.json()) as { data: Refs };
    expect(data.patient).to.equal(`Patient/${existing.id}`);
    const p = await read<Patient>(e, data.patient);
    expect(p.meta?.tag?.map((t) => t.code)).to.include.members(['insurer-referred', 'no-marketing']);
    expect(p.birthDate).to.equal('1964-01-21');
    expect((await read<ServiceRequest>(e, data.service_request)).subject?.reference).to.equal(`Patient/${existing.id}`);
  });

  it('refuses a missing or wrong signature with 401 and stores nothing', async () => {
    const before = await countMessages(e);
    const p = payload();
    const ts = pridokHeaders(Buffer.alloc(0))['x-pridok-timestamp'];
    for (const sig of [null, 'sha256=' + '0'.repeat(64), signBody('another-secret-value-xx', Buffer.from(JSON.stringify(p)), ts), 'md5=abc']) {
      const res = await post(e, p, sig);
      expect(res.status, String(sig)).to.equal(401);
      await res.arrayBuffer();
    }
    // Signature over other bytes than those sent.
    const res = await post(e, JSON.stringify(p) + ' ', signBody(SECRET, Buffer.from(JSON.stringify(p)), ts));
    expect(res.status).to.equal(401);
    await res.arrayBuffer();
    expect(await countMessages(e)).to.equal(before);
  });

  it('422 lists every bad field', async () => {
    const res = await post(e, payload({ JournalGuid: 'nope', PID: '123', MessageTimestamp: 'yesterday', Firstname: '', Email: 'not-an-email', PhoneNumber: undefined }));
    expect(res.status).to.equal(422);
    const body = (await res.json()) as { error: { type: string; invalid: { entry: string }[] } };
    expect(body.error.type).to.equal('validation_failed');
    expect(body.error.invalid.map((i) => i.entry)).to.include.members(['$.JournalGuid', '$.PID', '$.MessageTimestamp', '$.Firstname', '$.Email', '$.PhoneNumber']);
  });

  it('422 for a PID with wrong check digits; the message stays stored as rejected', async () => {
    const p = payload({ PID: '13116900217' });
    const res = await post(e, p);
    expect(res.status).to.equal(422);
    const body = (await res.json()) as { error: { invalid: { entry: string }[] } };
    expect(body.error.invalid.map((i) => i.entry)).to.deep.equal(['$.PID']);
    const token = await e.token('messages:read messages:read_raw');
    const list = (await (await fetch(`${e.url}/api/messages?source=pridok&status=rejected&external_id=${p.JournalGuid}&include_raw=true`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      data: { error: { code: string }; raw: { content: string } }[];
    };
    expect(list.data).to.have.length(1);
    expect(list.data[0].error.code).to.equal('validation_failed');
    expect(JSON.parse(Buffer.from(list.data[0].raw.content, 'base64').toString()).PID).to.equal('13116900217');
    // Corrected and resent under the same JournalGuid: processed.
    const fixed = await post(e, { ...p, PID: '13116900216' });
    expect(fixed.status).to.equal(201);
    await fixed.arrayBuffer();
  });

  it('400 for a body that is not JSON, 415 for another content type', async () => {
    let res = await post(e, '{not json');
    expect(res.status).to.equal(400);
    await res.arrayBuffer();
    res = await fetch(`${e.url}/api/webhooks/pridok/referrals`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect(res.status).to.equal(415);
    await res.arrayBuffer();
  });
});
