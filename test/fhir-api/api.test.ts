import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { Bundle, CapabilityStatement, CarePlan, Patient, ServiceRequest } from '@medplum/fhirtypes';
import { engine, TEST_TENANT } from '../support/harness.js';
import { client, expectOutcome, expectValid, ids, raw, READ } from './support.js';

const NIN = 'urn:oid:2.16.578.1.12.4.1.4.1';
const SR_ID = 'urn:hl7-engine:test:referral';

function fhir() {
  return engine().ctx.fhir.forTenant(TEST_TENANT);
}

/** Engine-written data (Patient and ServiceRequest are read-only through the API). */
async function seedPatient(family: string, given: string, extra: Partial<Patient> = {}): Promise<Patient> {
  return fhir().create<Patient>({
    resourceType: 'Patient',
    identifier: [{ system: NIN, value: `${Date.now() % 1e6}${Math.floor(Math.random() * 1e5)}` }],
    name: [{ family, given: [given] }],
    ...extra,
  });
}

async function seedReferral(patient: Patient, extra: Partial<ServiceRequest> = {}): Promise<ServiceRequest> {
  return fhir().create<ServiceRequest>({
    resourceType: 'ServiceRequest',
    identifier: [{ system: SR_ID, value: randomUUID() }],
    status: 'active',
    intent: 'order',
    code: { coding: [{ system: 'urn:oid:2.16.578.1.12.4.1.1.7010', code: 'R' }] },
    subject: { reference: `Patient/${patient.id}` },
    authoredOn: '2024-05-17T10:00:00Z',
    ...extra,
  });
}

describe('FHIR API', function () {
  this.timeout(120_000);

  describe('metadata and content negotiation', () => {
    it('serves a valid CapabilityStatement listing types, interactions and search parameters', async () => {
      const c = await client(READ);
      const cs = (await c.capabilityStatement()) as unknown as CapabilityStatement;
      expectValid(cs);
      expect(cs.fhirVersion).to.equal('4.0.1');
      expect(cs.format).to.include('application/fhir+json');
      const carePlan = cs.rest![0].resource!.find((r) => r.type === 'CarePlan')!;
      expect(carePlan.interaction!.map((i) => i.code)).to.include.members(['read', 'vread', 'search-type', 'history-instance', 'create', 'update']);
      expect(carePlan.conditionalCreate).to.equal(true);
      const sr = cs.rest![0].resource!.find((r) => r.type === 'ServiceRequest')!;
      expect(sr.interaction!.map((i) => i.code)).to.not.include('create');
      expect(sr.searchParam!.map((p) => p.name)).to.include.members(['_id', '_lastUpdated', 'identifier', 'status', 'code', 'subject', 'patient', 'based-on', 'authored']);
      expect(sr.searchInclude).to.include('ServiceRequest:subject');
      const patient = cs.rest![0].resource!.find((r) => r.type === 'Patient')!;
      expect(patient.searchRevInclude).to.include('ServiceRequest:subject');
    });

    it('answers application/fhir+json, accepts _format=json, refuses XML with 406', async () => {
      const ok = await raw('/metadata?_format=json', { scope: READ });
      expect(ok.status).to.equal(200);
      expect(ok.headers.get('content-type')).to.match(/^application\/fhir\+json/);
      expectOutcome(await raw('/metadata?_format=xml', { scope: READ }), 406);
      expectOutcome(await raw('/metadata', { scope: READ, headers: { Accept: 'application/fhir+xml' } }), 406);
    });
  });

  describe('access', () => {
    it('401 without or with a bad token, as OperationOutcome with the foundation wording', async () => {
      const none = await raw('/Patient', { scope: null });
      expectOutcome(none, 401, /Authorization header is not set or doesn't contain Bearer token/);
      const bad = await raw('/Patient', { scope: null, headers: { Authorization: 'Bearer abc.def.ghi' } });
      expectOutcome(bad, 401, /Invalid access token/);
    });

    it('403 without the scope; type-specific scopes work', async () => {
      const p = await seedPatient('Scope', 'Test');
      expectOutcome(await raw(`/Patient/${p.id}`, { scope: 'system/CarePlan.read' }), 403, /Missing allowances: system\/Patient\.read/);
      expect((await raw(`/Patient/${p.id}`, { scope: 'system/Patient.read' })).status).to.equal(200);
      expect((await raw(`/Patient/${p.id}`, { scope: 'system/Patient.rs' })).status).to.equal(200);
      const write = await raw('/CarePlan', { method: 'POST', scope: READ, body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${p.id}` } } });
      expectOutcome(write, 403, /system\/CarePlan\.write/);
    });
  });

  describe('create, read, vread, update, history (fhir-kit-client)', () => {
    it('creates a CarePlan (201, Location, ETag), reads, updates, vreads and lists its history', async () => {
      const p = await seedPatient('Plan', 'Owner');
      const c = await client();
      const created = (await c.create({ resourceType: 'CarePlan', body: { resourceType: 'CarePlan', status: 'draft', intent: 'plan', subject: { reference: `Patient/${p.id}` } } })) as unknown as CarePlan;
      expectValid(created);
      expect(created.meta?.versionId).to.equal('1');
      const read = (await c.read({ resourceType: 'CarePlan', id: created.id! })) as unknown as CarePlan;
      expect(read).to.deep.equal(created);
      const updated = (await c.update({ resourceType: 'CarePlan', id: created.id!, body: { ...read, status: 'active' } as any })) as unknown as CarePlan;
      expect(updated.meta?.versionId).to.equal('2');
      const v1 = (await c.vread({ resourceType: 'CarePlan', id: created.id!, version: '1' })) as unknown as CarePlan;
      expect(v1.status).to.equal('draft');
      const history = (await c.history({ resourceType: 'CarePlan', id: created.id! })) as unknown as Bundle;
      expectValid(history);
      expect(history.type).to.equal('history');
      expect(history.total).to.equal(2);
      expect(history.entry!.map((e) => e.resource!.meta!.versionId)).to.deep.equal(['2', '1']);
      expect(history.entry!.map((e) => e.request!.method)).to.deep.equal(['PUT', 'POST']);

      const res = await raw('/CarePlan', { method: 'POST', body: { resourceType: 'CarePlan', status: 'draft', intent: 'plan', subject: { reference: `Patient/${p.id}` } } });
      expect(res.status).to.equal(201);
      expect(res.headers.get('location')).to.match(new RegExp(`/fhir/CarePlan/${res.body.id}/_history/1$`));
      expect(res.headers.get('etag')).to.equal('W/"1"');
      expect(res.headers.get('last-modified')).to.be.a('string');
      const minimal = await raw('/CarePlan', { method: 'POST', headers: { Prefer: 'return=minimal' }, body: { resourceType: 'CarePlan', status: 'draft', intent: 'plan', subject: { reference: `Patient/${p.id}` } } });
      expect(minimal.status).to.equal(201);
      expect(minimal.body).to.equal(undefined);
    });

    it('ETag / Last-Modified on reads; If-None-Match gives 304', async () => {
      const p = await seedPatient('Etag', 'Test');
      const first = await raw(`/Patient/${p.id}`);
      expect(first.status).to.equal(200);
      expect(first.headers.get('etag')).to.equal('W/"1"');
      expect(new Date(first.headers.get('last-modified')!).getTime()).to.be.closeTo(Date.parse(p.meta!.lastUpdated!), 1000);
      expect((await raw(`/Patient/${p.id}`, { headers: { 'If-None-Match': 'W/"1"' } })).status).to.equal(304);
      expect((await raw(`/Patient/${p.id}`, { headers: { 'If-None-Match': 'W/"2"' } })).status).to.equal(200);
      expect((await raw(`/Patient/${p.id}/_history/1`, { headers: { 'If-None-Match': 'W/"1"' } })).status).to.equal(304);
    });

    it('conditional create with If-None-Exist: 201 once, then 200 with the existing resource; 412 when ambiguous', async () => {
      const p = await seedPatient('Cond', 'Create');
      const ident = randomUUID();
      const body = { resourceType: 'CarePlan', identifier: [{ system: 'urn:test:cp', value: ident }], status: 'active', intent: 'plan', subject: { reference: `Patient/${p.id}` } };
      const headers = { 'If-None-Exist': `identifier=urn:test:cp|${ident}` };
      const a = await raw('/CarePlan', { method: 'POST', body, headers });
      expect(a.status).to.equal(201);
      const b = await raw('/CarePlan', { method: 'POST', body, headers });
      expect(b.status).to.equal(200);
      expect(b.body.id).to.equal(a.body.id);
      await raw('/CarePlan', { method: 'POST', body });
      expectOutcome(await raw('/CarePlan', { method: 'POST', body, headers }), 412);
    });

    it('concurrent conditional creates with the same criteria create one resource; the others get it with 200', async () => {
      const p = await seedPatient('Cond', 'Race');
      const ident = randomUUID();
      const body = { resourceType: 'CarePlan', identifier: [{ system: 'urn:test:cp-race', value: ident }], status: 'active', intent: 'plan', subject: { reference: `Patient/${p.id}` } };
      const headers = { 'If-None-Exist': `identifier=urn:test:cp-race|${ident}` };
      const answers = await Promise.all(Array.from({ length: 8 }, () => raw('/CarePlan', { method: 'POST', body, headers })));
      expect(answers.map((a) => a.status).sort()).to.deep.equal([200, 200, 200, 200, 200, 200, 200, 201]);
      expect(new Set(answers.map((a) => a.body.id)).size).to.equal(1);
      const c = await client(READ);
      const found = (await c.search({ resourceType: 'CarePlan', searchParams: { identifier: `urn:test:cp-race|${ident}` } })) as unknown as Bundle;
      expect(found.entry).to.have.length(1);
    });
  });

  describe('errors', () => {
    it('404 unknown id, unknown type and unknown route; 410 deleted; 412 stale If-Match; 422 invalid; 405 read-only type', async () => {
      expectOutcome(await raw(`/Patient/${randomUUID()}`), 404);
      expectOutcome(await raw('/Nonsense/1'), 404);
      expectOutcome(await raw('/Patient/1/_history/1/extra'), 404);
      expectOutcome(await raw('/Patient/_history'), 404, /not supported/);
      const p = await seedPatient('Err', 'Test');
      const cp = await raw('/CarePlan', { method: 'POST', body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${p.id}` } } });
      const upd = await raw(`/CarePlan/${cp.body.id}`, { method: 'PUT', headers: { 'If-Match': 'W/"1"' }, body: { ...cp.body, status: 'on-hold' } });
      expect(upd.status).to.equal(200);
      expectOutcome(await raw(`/CarePlan/${cp.body.id}`, { method: 'PUT', headers: { 'If-Match': 'W/"1"' }, body: { ...cp.body, status: 'revoked' } }), 412);
      const del = await raw(`/CarePlan/${cp.body.id}`, { method: 'DELETE' });
      expect(del.status).to.equal(200);
      expectOutcome(await raw(`/CarePlan/${cp.body.id}`), 410);
      const invalid = await raw('/CarePlan', { method: 'POST', body: { resourceType: 'CarePlan', intent: 'plan', status: 'active', subject: 'Patient/1' } });
      expectOutcome(invalid, 422);
      expect(invalid.body.issue[0].expression[0]).to.match(/^CarePlan\.subject/);
      expectOutcome(await raw('/CarePlan', { method: 'POST', body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: 'Patient/1' }, bogus: 1 } }), 422);
      expectOutcome(await raw('/Patient', { method: 'POST', body: { resourceType: 'Patient' } }), 405);
      expectOutcome(await raw('/CarePlan', { method: 'POST', body: { resourceType: 'Patient' } }), 400);
      expectOutcome(await raw(`/CarePlan/${randomUUID()}`, { method: 'PUT', body: { resourceType: 'CarePlan', id: 'other', status: 'active', intent: 'plan', subject: { reference: 'Patient/1' } } }), 400);
    });

    it('bad JSON → 400, XML body → 415, too large → 413, all as OperationOutcome', async () => {
      expectOutcome(await raw('/CarePlan', { method: 'POST', body: '{"resourceType": ' }), 400);
      expectOutcome(await raw('/CarePlan', { method: 'POST', body: '<CarePlan/>', headers: { 'Content-Type': 'application/fhir+xml' } }), 415);
      const big = JSON.stringify({ resourceType: 'CarePlan', description: 'x'.repeat(engine().config.bodyLimitBytes + 10) });
      expectOutcome(await raw('/CarePlan', { method: 'POST', body: big }), 413);
    });

    it('unknown search parameters: ignored (with a warning entry) by default, 400 under Prefer: handling=strict', async () => {
      const lenient = await raw('/Patient?foo=bar&_count=1');
      expect(lenient.status).to.equal(200);
      expectValid(lenient.body);
      expect(lenient.body.entry.find((e: any) => e.search.mode === 'outcome').resource.issue[0].diagnostics).to.match(/foo/);
      expectOutcome(await raw('/Patient?foo=bar', { headers: { Prefer: 'handling=strict' } }), 400, /foo/);
      expectOutcome(await raw('/Patient?birthdate=notadate'), 400);
      expectOutcome(await raw('/ServiceRequest?authored=sa2024'), 400);
      expectOutcome(await raw('/Patient?_count=abc'), 400);
    });
  });

  describe('search', () => {
    let patient: Patient;
    let other: Patient;
    let sr1: ServiceRequest;
    let sr2: ServiceRequest;
    let sr3: ServiceRequest;
    const family = `Ærø${randomUUID().slice(0, 6)}`;

    before(async () => {
      patient = await seedPatient(family, 'Kari', { birthDate: '1964-01-01', gender: 'female' });
      other = await seedPatient(`${family}sen`, 'Ola', { birthDate: '1970-06-15', gender: 'male' });
      sr1 = await seedReferral(patient, { authoredOn: '2024-05-17T10:00:00Z' });
      sr2 = await seedReferral(patient, { status: 'completed', authoredOn: '2024-06-01', code: { coding: [{ system: 'urn:x', code: 'Y' }] } });
      sr3 = await seedReferral(other, { authoredOn: '2023-01-01', basedOn: [{ reference: `ServiceRequest/${sr1.id}` }] });
    });

    it('token: identifier system|value and value, status, code (system|code, code)', async () => {
      const c = await client(READ);
      const idv = sr1.identifier![0].value!;
      for (const q of [`${SR_ID}|${idv}`, idv]) {
        const b = await c.search({ resourceType: 'ServiceRequest', searchParams: { identifier: q } });
        expectValid(b);
        expect(ids(b)).to.deep.equal([`ServiceRequest/${sr1.id}`]);
      }
      const byStatus = await c.search({ resourceType: 'ServiceRequest', searchParams: { subject: `Patient/${patient.id}`, status: 'completed' } });
      expect(ids(byStatus)).to.deep.equal([`ServiceRequest/${sr2.id}`]);
      const byCode = await c.search({ resourceType: 'ServiceRequest', searchParams: { patient: patient.id!, code: 'urn:x|Y' } });
      expect(ids(byCode)).to.deep.equal([`ServiceRequest/${sr2.id}`]);
      const anyCode = await c.search({ resourceType: 'ServiceRequest', searchParams: { patient: patient.id!, code: 'R,Y' } });
      expect(ids(anyCode)).to.have.members([`ServiceRequest/${sr1.id}`, `ServiceRequest/${sr2.id}`]);
    });

    it('reference: subject (Type/id, :Type, absolute URL), patient, based-on', async () => {
      const c = await client(READ);
      const a = await c.search({ resourceType: 'ServiceRequest', searchParams: { subject: `Patient/${patient.id}` } });
      expect(ids(a)).to.have.members([`ServiceRequest/${sr1.id}`, `ServiceRequest/${sr2.id}`]);
      expect((a as unknown as Bundle).total).to.equal(2);
      const b = await c.search({ resourceType: 'ServiceRequest', searchParams: { 'subject:Patient': other.id! } });
      expect(ids(b)).to.deep.equal([`ServiceRequest/${sr3.id}`]);
      const abs = await c.search({ resourceType: 'ServiceRequest', searchParams: { subject: `${engine().url}/fhir/Patient/${other.id}` } });
      expect(ids(abs)).to.deep.equal([`ServiceRequest/${sr3.id}`]);
      const d = await c.search({ resourceType: 'ServiceRequest', searchParams: { 'based-on': `ServiceRequest/${sr1.id}` } });
      expect(ids(d)).to.deep.equal([`ServiceRequest/${sr3.id}`]);
    });

    it('date: authored with eq/gt/ge/lt/le and _lastUpdated', async () => {
      const c = await client(READ);
      const q = async (authored: string | string[]) =>
        ids(await c.search({ resourceType: 'ServiceRequest', searchParams: { patient: patient.id!, authored } }));
      expect(await q('2024-05-17')).to.deep.equal([`ServiceRequest/${sr1.id}`]);
      expect(await q('eq2024-05')).to.deep.equal([`ServiceRequest/${sr1.id}`]);
      expect(await q('gt2024-05-17')).to.deep.equal([`ServiceRequest/${sr2.id}`]);
      expect(await q('ge2024-05-17')).to.have.members([`ServiceRequest/${sr1.id}`, `ServiceRequest/${sr2.id}`]);
      expect(await q('lt2024-06-01')).to.deep.equal([`ServiceRequest/${sr1.id}`]);
      expect(await q('le2024-06-01')).to.have.members([`ServiceRequest/${sr1.id}`, `ServiceRequest/${sr2.id}`]);
      expect(await q(['ge2024-01-01', 'lt2024-06'])).to.deep.equal([`ServiceRequest/${sr1.id}`]);
      const since = new Date(Date.parse(sr3.meta!.lastUpdated!) - 1).toISOString();
      const lu = await c.search({ resourceType: 'ServiceRequest', searchParams: { subject: `Patient/${other.id}`, _lastUpdated: `ge${since}` } });
      expect(ids(lu)).to.deep.equal([`ServiceRequest/${sr3.id}`]);
      const none = await c.search({ resourceType: 'ServiceRequest', searchParams: { subject: `Patient/${other.id}`, _lastUpdated: 'lt2000-01-01' } });
      expect(ids(none)).to.deep.equal([]);
    });

    it('date on a Period (CarePlan date): overlap semantics of ge/le, eq = within', async () => {
      const c = await client();
      const cp = (await c.create({
        resourceType: 'CarePlan',
        body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${other.id}` }, period: { start: '2024-01-01', end: '2024-06-30' } },
      })) as unknown as CarePlan;
      const q = async (date: string) => ids(await c.search({ resourceType: 'CarePlan', searchParams: { subject: `Patient/${other.id}`, date } }));
      expect(await q('ge2024-03-01')).to.deep.equal([`CarePlan/${cp.id}`]);
      expect(await q('le2024-03-01')).to.deep.equal([`CarePlan/${cp.id}`]);
      expect(await q('eq2024')).to.deep.equal([`CarePlan/${cp.id}`]);
      expect(await q('eq2024-03')).to.deep.equal([]);
      expect(await q('gt2024-07-01')).to.deep.equal([]);
      expect(await q('lt2023-12-31')).to.deep.equal([]);
    });

    it('string: name and family (starts with, case and accent insensitive, :exact), birthdate, gender, _id', async () => {
      const c = await client(READ);
      const lower = family.toLowerCase();
      const byFamily = await c.search({ resourceType: 'Patient', searchParams: { family: lower.slice(0, 9) } });
      expect(ids(byFamily)).to.have.members([`Patient/${patient.id}`, `Patient/${other.id}`]);
      const exact = await c.search({ resourceType: 'Patient', searchParams: { 'family:exact': family } });
      expect(ids(exact)).to.deep.equal([`Patient/${patient.id}`]);
      const byName = await c.search({ resourceType: 'Patient', searchParams: { name: 'KARI', family } });
      expect(ids(byName)).to.deep.equal([`Patient/${patient.id}`]);
      const accents = await c.search({ resourceType: 'Patient', searchParams: { family: family.replace('ø', 'o').toUpperCase() } });
      expect(ids(accents)).to.include(`Patient/${patient.id}`);
      const g = await c.search({ resourceType: 'Patient', searchParams: { family, gender: 'male' } });
      expect(ids(g)).to.deep.equal([`Patient/${other.id}`]);
      const bd = await c.search({ resourceType: 'Patient', searchParams: { family, birthdate: 'lt1965' } });
      expect(ids(bd)).to.deep.equal([`Patient/${patient.id}`]);
      const byId = await c.search({ resourceType: 'Patient', searchParams: { _id: `${patient.id},${other.id}` } });
      expect(ids(byId)).to.have.members([`Patient/${patient.id}`, `Patient/${other.id}`]);
    });

    it('_sort, _summary=count, POST _search', async () => {
      const c = await client(READ);
      const sorted = await c.search({ resourceType: 'ServiceRequest', searchParams: { patient: patient.id!, _sort: '-authored' } });
      expect(ids(sorted)).to.deep.equal([`ServiceRequest/${sr2.id}`, `ServiceRequest/${sr1.id}`]);
      const sortedAsc = await c.search({ resourceType: 'ServiceRequest', searchParams: { patient: patient.id!, _sort: 'authored' } });
      expect(ids(sortedAsc)).to.deep.equal([`ServiceRequest/${sr1.id}`, `ServiceRequest/${sr2.id}`]);
      const byLu = await c.search({ resourceType: 'ServiceRequest', searchParams: { patient: patient.id!, _sort: '-_lastUpdated' } });
      expect(ids(byLu)).to.deep.equal([`ServiceRequest/${sr2.id}`, `ServiceRequest/${sr1.id}`]);
      const count = (await c.search({ resourceType: 'ServiceRequest', searchParams: { patient: patient.id!, _summary: 'count' } })) as unknown as Bundle;
      expectValid(count);
      expect(count.total).to.equal(2);
      expect(count.entry ?? []).to.have.length(0);
      const post = await c.search({ resourceType: 'ServiceRequest', searchParams: { subject: `Patient/${other.id}` }, options: { postSearch: true } });
      expect(ids(post)).to.deep.equal([`ServiceRequest/${sr3.id}`]);
    });

    it('_include and _revinclude', async () => {
      const c = await client(READ);
      const inc = await c.search({ resourceType: 'ServiceRequest', searchParams: { subject: `Patient/${patient.id}`, _include: 'ServiceRequest:subject' } });
      expectValid(inc);
      expect(ids(inc, 'include')).to.deep.equal([`Patient/${patient.id}`]);
      const rev = await c.search({ resourceType: 'Patient', searchParams: { _id: patient.id!, _revinclude: 'ServiceRequest:subject' } });
      expectValid(rev);
      expect(ids(rev)).to.deep.equal([`Patient/${patient.id}`]);
      expect(ids(rev, 'include')).to.have.members([`ServiceRequest/${sr1.id}`, `ServiceRequest/${sr2.id}`]);
      const revPatient = await c.search({ resourceType: 'Patient', searchParams: { _id: other.id!, _revinclude: 'ServiceRequest:patient' } });
      expect(ids(revPatient, 'include')).to.deep.equal([`ServiceRequest/${sr3.id}`]);
      const basedOn = await c.search({ resourceType: 'ServiceRequest', searchParams: { _id: sr3.id!, _include: 'ServiceRequest:based-on' } });
      expect(ids(basedOn, 'include')).to.deep.equal([`ServiceRequest/${sr1.id}`]);
    });

    it('writes an AuditEvent for reads and searches of personal data', async () => {
      const c = await client(READ);
      await c.read({ resourceType: 'Patient', id: other.id! });
      await engine().ctx.audit.flush();
      const events = (await c.search({ resourceType: 'AuditEvent', searchParams: { patient: `Patient/${other.id}`, subtype: 'read' } })) as unknown as Bundle;
      expectValid(events);
      expect(events.entry!.length).to.be.greaterThan(0);
      const ev = events.entry![0].resource as any;
      expect(ev.agent[0].who.identifier.value).to.equal('fhir-tester');
      expect(ev.agent[0].altId).to.equal('le-1');
      expect(ev.action).to.equal('R');
      // an AuditEvent is stored once (no separate history copy): read, vread and _history still serve it
      expect(await c.read({ resourceType: 'AuditEvent', id: ev.id })).to.deep.equal(ev);
      expect(await c.vread({ resourceType: 'AuditEvent', id: ev.id, version: '1' })).to.deep.equal(ev);
      const hist = (await c.history({ resourceType: 'AuditEvent', id: ev.id })) as unknown as Bundle;
      expectValid(hist);
      expect(hist.entry!.map((e) => e.resource)).to.deep.equal([ev]);
    });
  });

  describe('paging', () => {
    it('pages through 250 resources with next and previous links', async () => {
      const p = await seedPatient('Paging', 'Many');
      const batch: ServiceRequest[] = Array.from({ length: 250 }, (_, i) => ({
        resourceType: 'ServiceRequest',
        identifier: [{ system: SR_ID, value: `page-${p.id}-${i}` }],
        status: 'active',
        intent: 'order',
        subject: { reference: `Patient/${p.id}` },
      }));
      await fhir().bulkLoad(batch.slice(0, 200), { history: true });
      for (const r of batch.slice(200)) await fhir().create(r);
      const c = await client(READ);
      let bundle = (await c.search({ resourceType: 'ServiceRequest', searchParams: { subject: `Patient/${p.id}`, _count: 40 } })) as any;
      const seen: string[] = [];
      const pages: any[] = [];
      for (;;) {
        expectValid(bundle);
        pages.push(bundle);
        seen.push(...ids(bundle));
        const next = c.nextPage({ bundle });
        if (!next) break;
        bundle = await next;
      }
      expect(pages).to.have.length(7);
      expect(seen).to.have.length(250);
      expect(new Set(seen).size).to.equal(250);
      expect(pages[6].total).to.equal(250);
      const prev = (await c.prevPage({ bundle: pages[3] })) as any;
      expect(ids(prev)).to.deep.equal(ids(pages[2]));
      expect(pages[0].link.find((l: any) => l.relation === 'previous')).to.equal(undefined);
    });

    it('pages through a search by _id with next links', async () => {
      const ps = [await seedPatient('ById', 'One'), await seedPatient('ById', 'Two'), await seedPatient('ById', 'Three')];
      const c = await client(READ);
      let bundle = (await c.search({ resourceType: 'Patient', searchParams: { _id: ps.map((p) => p.id!).join(','), _count: 1 } })) as any;
      const seen: string[] = [];
      for (let i = 0; i < 10; i++) {
        expectValid(bundle);
        seen.push(...ids(bundle));
        const next = c.nextPage({ bundle });
        if (!next) break;
        bundle = await next;
      }
      expect(seen).to.have.members(ps.map((p) => `Patient/${p.id}`));
      expect(seen).to.have.length(3);
    });
  });
});
