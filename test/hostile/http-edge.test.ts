/**
 * Hostile input at the HTTP edge, as a corpus: each case is a request and the exact answer it must get (status and
 * body shape of its route family). No case may answer 5xx.
 */
import { pridokHeaders } from '../support/tenants.js';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { engine } from '../support/harness.js';
import { JSON_MAX_DEPTH } from '../../src/platform/http/body.js';
import { bodyKind, rawRequest } from './support.js';

type Kind = 'OperationOutcome' | 'envelope' | 'error';

interface Case {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  status: number;
  kind: Kind;
}

const SCOPES = [
  'system/*.*',
  'dictionaries:read dictionaries:write',
  'care_plan:read care_plan:write',
  'registries:read registries:write',
  'consultations:read consultations:write',
  'messages:read messages:write messages:replay',
  'job:read admin',
].join(' ');

/** Routes that parse a body, by family: the Content-Type each takes and the error body it answers with. */
const BODY_ROUTES: { method: string; path: string; type: string; kind: Kind; json: boolean }[] = [
  { method: 'POST', path: '/fhir/Patient', type: 'application/fhir+json', kind: 'OperationOutcome', json: true },
  { method: 'PUT', path: '/fhir/Patient/hostile-1', type: 'application/fhir+json', kind: 'OperationOutcome', json: true },
  { method: 'POST', path: '/fhir/Patient/_search', type: 'application/x-www-form-urlencoded', kind: 'OperationOutcome', json: false },
  { method: 'POST', path: '/fhir/CodeSystem/$lookup', type: 'application/fhir+json', kind: 'OperationOutcome', json: true },
  { method: 'POST', path: '/fhir/ValueSet/$validate-code', type: 'application/fhir+json', kind: 'OperationOutcome', json: true },
  { method: 'PUT', path: '/api/dictionaries/TEST%2Fhostile', type: 'application/json', kind: 'envelope', json: true },
  { method: 'POST', path: '/api/patients/hostile-patient/care_plans', type: 'application/json', kind: 'envelope', json: true },
  { method: 'PUT', path: '/api/registries/legal_entities/hostile-1', type: 'application/json', kind: 'envelope', json: true },
  { method: 'POST', path: '/api/consultations', type: 'application/json', kind: 'envelope', json: true },
  { method: 'POST', path: '/api/messages/replay', type: 'application/json', kind: 'envelope', json: true },
  { method: 'POST', path: '/api/messages', type: 'application/xml', kind: 'error', json: false },
];

const JSON_BODY = JSON.stringify({ resourceType: 'Patient', active: true, padding: 'x'.repeat(200) });
const garbageDeflate = Buffer.from('this is not a deflate stream at all, not even close');
const gz = gzipSync(Buffer.from(JSON_BODY));
const truncatedGzip = gz.subarray(0, gz.length - 12);

/** JSON nested `levels` deep inside a resource-like object, written iteratively. */
function deepJson(levels: number): string {
  return `{"resourceType":"Patient","extension":${'['.repeat(levels)}${']'.repeat(levels)}}`;
}

const cases: Case[] = [];
for (const r of BODY_ROUTES) {
  const base = { method: r.method, path: r.path, kind: r.kind };
  cases.push({ ...base, name: `${r.method} ${r.path}: garbage deflate`, headers: { 'content-type': r.type, 'content-encoding': 'deflate' }, body: garbageDeflate, status: 400 });
  cases.push({ ...base, name: `${r.method} ${r.path}: garbage brotli`, headers: { 'content-type': r.type, 'content-encoding': 'br' }, body: garbageDeflate, status: 400 });
  cases.push({ ...base, name: `${r.method} ${r.path}: truncated gzip`, headers: { 'content-type': r.type, 'content-encoding': 'gzip' }, body: truncatedGzip, status: 400 });
  cases.push({ ...base, name: `${r.method} ${r.path}: unknown encoding`, headers: { 'content-type': r.type, 'content-encoding': 'x-klingon' }, body: JSON_BODY, status: 415 });
  if (r.json) {
    cases.push({ ...base, name: `${r.method} ${r.path}: unknown charset`, headers: { 'content-type': `${r.type}; charset=x-klingon` }, body: JSON_BODY, status: 415 });
    cases.push({ ...base, name: `${r.method} ${r.path}: JSON 50 000 levels deep`, headers: { 'content-type': r.type }, body: deepJson(50_000), status: 400 });
    cases.push({ ...base, name: `${r.method} ${r.path}: JSON ${JSON_MAX_DEPTH} levels + 1`, headers: { 'content-type': r.type }, body: deepJson(JSON_MAX_DEPTH), status: 400 });
  }
}

// Dictionary requests whose small JSON body may come without a Content-Type: still depth-checked.
for (const [method, path] of [
  ['PATCH', '/api/dictionaries/TEST%2Fhostile/codes/A'],
  ['POST', '/api/dictionaries/TEST%2Fhostile/rollback'],
]) {
  cases.push({ name: `${method} ${path}: JSON 20 000 levels deep without Content-Type`, method, path, body: deepJson(20_000), status: 400, kind: 'envelope' });
}

const PATHS: { path: string; kind: Kind; method?: string }[] = [
  { path: '/api/jobs/%ZZ', kind: 'envelope' },
  { path: '/api/jobs/%C3%28', kind: 'envelope' },
  { path: '/api/jobs/%ZZ/rerun', kind: 'envelope', method: 'POST' },
  { path: '/api/messages/%ZZ', kind: 'envelope' },
  { path: '/api/registries/legal_entities/%ZZ', kind: 'envelope' },
  { path: '/api/consultations/%ZZ', kind: 'envelope' },
  { path: '/api/nothing/%ZZ', kind: 'envelope' },
  { path: '/fhir/Patient/%ZZ', kind: 'OperationOutcome' },
  { path: '/fhir/%ZZ', kind: 'OperationOutcome' },
  { path: '/fhir/Patient/%ZZ/_history/1', kind: 'OperationOutcome' },
  { path: '/fhir/CodeSystem/%ZZ/$lookup?code=A', kind: 'OperationOutcome' },
  { path: '/api/patients/%ZZ/care_plans', kind: 'envelope' },
  { path: '/api/dictionaries/%ZZ', kind: 'envelope' },
];
for (const p of PATHS) {
  cases.push({ name: `${p.method ?? 'GET'} ${p.path}: malformed percent-encoding`, method: p.method ?? 'GET', path: p.path, status: 400, kind: p.kind });
}

// A chained search is a filter: answering it with every resource (an ignored parameter) would leak; 400 instead.
const SEARCHES: { path: string; status: number; kind: Kind; method?: string; body?: string }[] = [
  { path: '/fhir/ServiceRequest?subject.name=x', status: 400, kind: 'OperationOutcome' },
  { path: '/fhir/ServiceRequest?subject:Patient.name=x', status: 400, kind: 'OperationOutcome' },
  { path: '/fhir/Observation?patient.identifier=urn:oid:2.16.578.1.12.4.1.4.1|01010112345', status: 400, kind: 'OperationOutcome' },
  { path: '/fhir/Patient?_has:Observation:patient:code=1234-5', status: 400, kind: 'OperationOutcome' },
  { path: '/fhir/ServiceRequest/_search', method: 'POST', body: 'subject.name=x', status: 400, kind: 'OperationOutcome' },
];
for (const q of SEARCHES) {
  cases.push({
    name: `${q.method ?? 'GET'} ${q.path}${q.body ? ` (${q.body})` : ''}: chained search`,
    method: q.method ?? 'GET',
    path: q.path,
    headers: q.body ? { 'content-type': 'application/x-www-form-urlencoded' } : undefined,
    body: q.body,
    status: q.status,
    kind: q.kind,
  });
}

describe('hostile input at the HTTP edge (corpus)', function () {
  this.timeout(60_000);
  let token: string;
  const answers: { name: string; status: number }[] = [];

  before(async () => {
    token = await engine().token(SCOPES, { clientId: 'hostile-le' });
  });

  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.kind}`, async () => {
      const headers = { authorization: `Bearer ${token}`, ...(c.headers ?? {}) };
      const a = await rawRequest(engine().url, { method: c.method, path: c.path, headers, body: c.body });
      answers.push({ name: c.name, status: a.status });
      expect({ status: a.status, kind: bodyKind(a.json) }, a.text.slice(0, 300)).to.deep.equal({ status: c.status, kind: c.kind });
    });
  }

  it('no answer of the corpus is 5xx', () => {
    expect(answers).to.have.length(cases.length);
    expect(answers.filter((a) => a.status >= 500)).to.deep.equal([]);
  });

  it(`JSON exactly ${JSON_MAX_DEPTH} levels deep is parsed (the limit is not off by one)`, async () => {
    // 63 arrays inside the object = 64 levels: reaches the validator, which refuses the shape (not the depth).
    const a = await rawRequest(engine().url, {
      method: 'POST',
      path: '/fhir/Patient',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      body: deepJson(JSON_MAX_DEPTH - 1),
    });
    expect(a.status).to.be.within(400, 499);
    expect(a.text).to.not.match(/nested deeper/);
  });

  it('an unknown (not chained) search parameter is still ignored with a warning (lenient handling)', async () => {
    const a = await rawRequest(engine().url, { method: 'GET', path: '/fhir/ServiceRequest?foo=x', headers: { authorization: `Bearer ${token}` } });
    expect(a.status, a.text).to.equal(200);
    expect(a.json.resourceType).to.equal('Bundle');
  });

  it('a gzip body that decodes is accepted', async () => {
    const a = await rawRequest(engine().url, {
      method: 'POST',
      path: '/fhir/Observation',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', 'content-encoding': 'gzip' },
      body: gzipSync(Buffer.from(JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'gzip' } }))),
    });
    expect(a.status, a.text).to.equal(201);
  });
});

describe('hostile input at the HTTP edge: Pridok webhook (signed, its own body reader)', function () {
  this.timeout(60_000);

  const webhookCases: { name: string; headers: Record<string, string>; body: Buffer | string; status: number }[] = [
    { name: 'garbage deflate', headers: { 'content-encoding': 'deflate' }, body: garbageDeflate, status: 400 },
    { name: 'truncated gzip', headers: { 'content-encoding': 'gzip' }, body: truncatedGzip, status: 400 },
    { name: 'unknown encoding', headers: { 'content-encoding': 'x-klingon' }, body: JSON_BODY, status: 415 },
    // The webhook's JSON schema refuses the shape (the deep part is an unknown property).
    { name: 'signed JSON 50 000 levels deep', headers: {}, body: `{"JournalGuid":"hostile","x":${'['.repeat(50_000)}${']'.repeat(50_000)}}`, status: 422 },
  ];
  for (const c of webhookCases) {
    it(`POST /api/webhooks/pridok/referrals: ${c.name} → ${c.status} envelope`, async () => {
      const a = await rawRequest(engine().url, {
        method: 'POST',
        path: '/api/webhooks/pridok/referrals',
        headers: { ...pridokHeaders(Buffer.from(c.body)), ...c.headers },
        body: c.body,
      });
      expect({ status: a.status, kind: bodyKind(a.json) }, a.text.slice(0, 300)).to.deep.equal({ status: c.status, kind: 'envelope' });
    });
  }
});
