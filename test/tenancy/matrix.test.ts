/**
 * The tenant matrix: every route of /api/openapi.json and every FHIR interaction and operation of the
 * CapabilityStatement has a row here. Two legal entities A and B each own data; for every route that reads or acts on
 * a legal entity's data, B's token gets 404 (or an empty list or Bundle, or the answer for something that does not
 * exist) for A's data, and A's token works. A route or FHIR interaction added without a row fails the first test.
 *
 * Routes that hold no legal entity's data say why (shared reference data, public, signed per tenant).
 */
import { expect } from 'chai';
import type { Bundle, CapabilityStatement, Resource } from '@medplum/fhirtypes';
import { startCarePlanEngine, http as cpHttp, newWorld, type World } from '../careplans/support.js';
import { makeReferral } from '../consultations/support.js';
import { SseClient } from '../consultations/sse.js';
import { ingest, variant } from '../ingest/support.js';
import type { TestEngine } from '../support/harness.js';
import { OTHER_PRIDOK_SECRET, OTHER_TENANT, pridokHeaders, pridokPayload, TEST_TENANT } from '../support/tenants.js';
import { sign } from '../careplans/pki.js';

const A = TEST_TENANT;
const B = OTHER_TENANT;
const NY = 'Henvisning_ny_tilstand_v2-0_Ny.xml';

/** What a row does with A's data: the requests of A and B and what each must get. */
interface Probe {
  /** Runs B's request, then A's; throws (chai) when either answer is wrong. */
  run(ctx: Ctx): Promise<void>;
}

type Row = { tenant: Probe } | { notTenantData: string };

interface Ctx {
  e: TestEngine;
  tok: (tenant: string, scope: string, sub?: string) => Promise<string>;
  call: (method: string, path: string, token: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any; text: string }>;
  a: {
    messageId: string;
    patientId: string;
    serviceRequestId: string;
    consultationId: string;
    /** A's completed consultation (rebooking). */
    completedId: string;
    /** The insurer order holding A's consultation. */
    orderId: string;
    reportId: string;
    jobId: string;
    previewJobId: string;
    observationId: string;
  };
  wA: World;
  wB: World;
  activityId: string;
}

const ALL = 'messages:read messages:read_raw messages:replay messages:write job:read consultations:read consultations:write consultations:supervise consultation_result:read system/*.read system/*.write';

/** B gets one of `bStatuses`, A one of `aStatuses`. */
function statuses(method: string, path: (c: Ctx) => string, scope: string, aStatuses: number[], bStatuses: number[], body?: (c: Ctx) => unknown): Probe {
  return {
    async run(c) {
      const b = await c.call(method, path(c), await c.tok(B, scope), body?.(c));
      expect(bStatuses, `B ${method} ${path(c)}: ${b.status} ${b.text.slice(0, 300)}`).to.include(b.status);
      const a = await c.call(method, path(c), await c.tok(A, scope), body?.(c));
      expect(aStatuses, `A ${method} ${path(c)}: ${a.status} ${a.text.slice(0, 300)}`).to.include(a.status);
    },
  };
}

/** A list: B's answer does not hold A's item, A's does. */
function list(path: (c: Ctx) => string, scope: string, idOf: (c: Ctx) => string, items: (body: any) => string[]): Probe {
  return {
    async run(c) {
      const b = await c.call('GET', path(c), await c.tok(B, scope));
      expect(b.status, b.text.slice(0, 300)).to.equal(200);
      expect(items(b.body), `B GET ${path(c)}`).not.to.include(idOf(c));
      const a = await c.call('GET', path(c), await c.tok(A, scope));
      expect(a.status, a.text.slice(0, 300)).to.equal(200);
      expect(items(a.body), `A GET ${path(c)}`).to.include(idOf(c));
    },
  };
}

const dataIds = (body: any): string[] => (body.data ?? []).map((x: { id: string }) => x.id);

/** Care plan routes: A is the world that manages the plan, B another legal entity without approval. */
function carePlan(method: string, path: (c: Ctx) => string, aStatuses: number[], bStatuses: number[], body?: (c: Ctx, w: World) => unknown): Probe {
  return {
    async run(c) {
      const b = await cpHttp(c.e, method, path(c), c.wB.token, body?.(c, c.wB));
      expect(bStatuses, `B ${method} ${path(c)}: ${b.status} ${JSON.stringify(b.body).slice(0, 300)}`).to.include(b.status);
      const a = await cpHttp(c.e, method, path(c), c.wA.token, body?.(c, c.wA));
      expect(aStatuses, `A ${method} ${path(c)}: ${a.status} ${JSON.stringify(a.body).slice(0, 300)}`).to.include(a.status);
    },
  };
}

const planPath = (c: Ctx) => `/api/patients/${c.wA.patientId}/care_plans/${c.wA.carePlanId}`;

const GLOBAL_DICTIONARIES = { notTenantData: 'dictionaries are shared reference data, written by administrators' };
const GLOBAL_REGISTRIES = { notTenantData: 'the eHealth registries are shared reference data, written by administrators' };

export const API_ROWS: Record<string, Row> = {
  'GET /healthz': { notTenantData: 'liveness, no data' },
  'GET /readyz': { notTenantData: 'readiness, no data' },
  'GET /metrics': { notTenantData: 'Prometheus counters for operators, no records' },
  'GET /api/openapi.json': { notTenantData: 'the API description' },
  'GET /admin/jobs/': {
    tenant: {
      async run(c) {
        // The operators' job board shows every legal entity's jobs: an admin token alone is not enough.
        const b = await c.call('GET', '/admin/jobs/', await c.tok(B, 'admin'));
        expect(b.status).to.equal(403);
        const ops = await c.call('GET', '/admin/jobs/', await c.tok(B, 'admin support:cross_tenant'));
        expect(ops.status).to.equal(200);
      },
    },
  },
  'GET /admin/queue': {
    tenant: {
      async run(c) {
        // The supervisor page is for operators (it names the tenant it shows): an admin token alone is not enough.
        expect((await c.call('GET', `/admin/queue?tenant=${A}`, await c.tok(B, 'admin'))).status).to.equal(403);
        expect((await c.call('GET', `/admin/queue?tenant=${A}`, await c.tok(B, 'admin support:cross_tenant'))).status).to.equal(200);
      },
    },
  },
  'GET /admin/queue/data': {
    tenant: {
      async run(c) {
        const ids = (r: { body: { consultations: { id: string }[] } }) => r.body.consultations.map((x) => x.id);
        expect((await c.call('GET', `/admin/queue/data?tenant=${A}`, await c.tok(B, 'admin'))).status).to.equal(403);
        const ops = await c.tok(B, 'admin support:cross_tenant');
        const b = await c.call('GET', `/admin/queue/data?tenant=${B}`, ops);
        expect(ids(b)).not.to.include(c.a.consultationId);
        const a = await c.call('GET', `/admin/queue/data?tenant=${A}`, ops);
        expect(ids(a)).to.include(c.a.consultationId);
      },
    },
  },
  'GET /admin/queue/events': {
    tenant: {
      async run(c) {
        expect((await c.call('GET', `/admin/queue/events?tenant=${A}`, await c.tok(B, 'admin'))).status).to.equal(403);
        await eventStreamProbe(c, (t) => `/admin/queue/events?tenant=${t}&after=0`, () => c.tok(B, 'admin support:cross_tenant'), () => c.tok(B, 'admin support:cross_tenant'));
      },
    },
  },
  'GET /api/consultations/events': {
    tenant: {
      async run(c) {
        await eventStreamProbe(c, () => '/api/consultations/events?after=0', () => c.tok(B, 'consultations:read'), () => c.tok(A, 'consultations:read'));
      },
    },
  },
  'GET /api/consultations/patients/{patient_id}/history': {
    tenant: statuses('GET', (c) => `/api/consultations/patients/${c.a.patientId}/history`, 'consultations:read consultation_result:read', [200], [404]),
  },
  'POST /api/consultations/bookings': {
    // B does not have A's referral (422 "does not exist"); for A it already has a live consultation (200).
    tenant: statuses('POST', () => '/api/consultations/bookings', 'consultations:book', [200], [422], (c) => ({ service_request_id: c.a.serviceRequestId })),
  },
  'GET /api/jobs/{id}': { tenant: statuses('GET', (c) => `/api/jobs/${c.a.jobId}`, 'job:read', [200, 303], [404]) },
  'GET /api/jobs': { tenant: list(() => '/api/jobs?page_size=500', 'job:read', (c) => c.a.jobId, dataIds) },
  'POST /api/jobs/{id}/rerun': { tenant: statuses('POST', (c) => `/api/jobs/${c.a.jobId}/rerun`, 'job:read admin', [202, 409], [404]) },
  'GET /api/consultations': { tenant: list(() => '/api/consultations?page_size=100', 'consultations:read', (c) => c.a.consultationId, dataIds) },
  'POST /api/consultations': {
    tenant: {
      async run(c) {
        // B cannot create (or get back) a consultation on A's referral: for B the referral does not exist.
        const b = await c.call('POST', '/api/consultations', await c.tok(B, 'consultations:write'), { service_request_id: c.a.serviceRequestId });
        expect(b.status, b.text).to.equal(422);
        expect(b.text).to.include('does not exist').and.not.include(c.a.consultationId);
        const a = await c.call('POST', '/api/consultations', await c.tok(A, 'consultations:write'), { service_request_id: c.a.serviceRequestId });
        expect(a.status, a.text).to.equal(200);
        expect(a.body.data.id).to.equal(c.a.consultationId);
      },
    },
  },
  'POST /api/consultations/{id}/rebook': {
    tenant: statuses('POST', (c) => `/api/consultations/${c.a.completedId}/rebook`, 'consultations:write consultations:supervise', [200, 201], [404]),
  },
  'GET /api/billing/orders': { tenant: list(() => '/api/billing/orders?page_size=100', 'billing:read', (c) => c.a.orderId, dataIds) },
  'GET /api/billing/orders/{id}': { tenant: statuses('GET', (c) => `/api/billing/orders/${c.a.orderId}`, 'billing:read', [200], [404]) },
  'GET /api/consultations/metrics': {
    tenant: {
      async run(c) {
        const count = async (t: string) => {
          const r = await c.call('GET', '/api/consultations/metrics?group_by=organization', await c.tok(t, 'consultations:read'));
          expect(r.status).to.equal(200);
          return (r.body.data as { consultations: number }[]).reduce((n, g) => n + g.consultations, 0);
        };
        expect(await count(B)).to.equal(0);
        expect(await count(A)).to.be.greaterThan(0);
      },
    },
  },
  'GET /api/consultations/{id}': { tenant: statuses('GET', (c) => `/api/consultations/${c.a.consultationId}`, 'consultations:read', [200], [404]) },
  'POST /api/consultations/{id}/pick': { tenant: statuses('POST', (c) => `/api/consultations/${c.a.consultationId}/pick`, 'consultations:write', [200], [404]) },
  'POST /api/consultations/{id}/assign': {
    tenant: statuses('POST', (c) => `/api/consultations/${c.a.consultationId}/assign`, 'consultations:supervise', [200], [404], () => ({ practitioner_id: 'user-1' })),
  },
  'POST /api/consultations/{id}/start': { tenant: statuses('POST', (c) => `/api/consultations/${c.a.consultationId}/start`, 'consultations:write', [200], [404]) },
  'POST /api/consultations/{id}/notify': { tenant: statuses('POST', (c) => `/api/consultations/${c.a.consultationId}/notify`, 'consultations:write', [200], [404]) },
  'POST /api/consultations/{id}/finish': {
    tenant: statuses('POST', (c) => `/api/consultations/${c.a.consultationId}/finish`, 'consultations:write', [200], [404], () => ({
      icpc2: 'R74',
      outcome: 'helped',
      notes: 'matrix notes',
    })),
  },
  'POST /api/consultations/{id}/cancel': {
    tenant: statuses('POST', (c) => `/api/consultations/${c.a.consultationId}/cancel`, 'consultations:write consultations:supervise', [409], [404], () => ({ reason: 'test' })),
  },
  'POST /api/consultations/reports': {
    tenant: {
      async run(c) {
        // B's report over the same days holds none of A's consultations.
        const range = { from: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10), to: new Date(Date.now() + 86_400_000).toISOString().slice(0, 10) };
        const b = await c.call('POST', '/api/consultations/reports', await c.tok(B, 'consultation_result:read job:read'), range);
        expect(b.status, b.text).to.equal(202);
        const rows = await reportRows(c, B, b.body.data.id);
        expect(rows).to.equal(0);
        expect(await reportRows(c, A, c.a.reportId)).to.be.greaterThan(0);
      },
    },
  },
  'GET /api/consultations/reports': { tenant: list(() => '/api/consultations/reports?page_size=100', 'consultation_result:read', (c) => c.a.reportId, dataIds) },
  'GET /api/consultations/reports/{id}': { tenant: statuses('GET', (c) => `/api/consultations/reports/${c.a.reportId}`, 'consultation_result:read', [200], [404]) },
  'GET /api/consultations/reports/{id}/download': {
    tenant: statuses('GET', (c) => `/api/consultations/reports/${c.a.reportId}/download`, 'consultation_result:read', [200], [404]),
  },
  'GET /api/dictionaries': GLOBAL_DICTIONARIES,
  'GET /api/dictionaries/{name}': GLOBAL_DICTIONARIES,
  'PUT /api/dictionaries/{name}': GLOBAL_DICTIONARIES,
  'GET /api/dictionaries/{name}/codes/{code}': GLOBAL_DICTIONARIES,
  'PATCH /api/dictionaries/{name}/codes/{code}': GLOBAL_DICTIONARIES,
  'POST /api/dictionaries/{name}/codes/{code}/deactivate': GLOBAL_DICTIONARIES,
  'POST /api/dictionaries/{name}/rollback': GLOBAL_DICTIONARIES,
  'GET /api/dictionaries/{name}/versions': GLOBAL_DICTIONARIES,
  'GET /api/dictionaries/{name}/export': GLOBAL_DICTIONARIES,
  'POST /api/messages': {
    tenant: {
      async run(c) {
        // A message addressed to A's receiver, posted with B's token, is not A's: B gets E21, A's data is untouched.
        const body = variant(NY);
        const b = await fetch(`${c.e.url}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/xml', authorization: `Bearer ${await c.tok(B, 'messages:write')}` }, body });
        const bText = await b.text();
        expect(b.status).to.equal(200);
        expect(bText).to.include('E21');
        const a = await fetch(`${c.e.url}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/xml', authorization: `Bearer ${await c.tok(A, 'messages:write')}` }, body });
        expect(a.status).to.equal(200);
        expect(a.headers.get('x-duplicate')).to.equal(null);
        expect(await a.text()).to.match(/<(\w+:)?Status V="1"/);
      },
    },
  },
  'GET /api/messages': { tenant: list(() => '/api/messages?page_size=500', 'messages:read', (c) => c.a.messageId, dataIds) },
  'GET /api/messages/{id}': { tenant: statuses('GET', (c) => `/api/messages/${c.a.messageId}?include_raw=true`, 'messages:read messages:read_raw', [200], [404]) },
  'GET /api/messages/{id}/raw': { tenant: statuses('GET', (c) => `/api/messages/${c.a.messageId}/raw`, 'messages:read_raw', [200], [404]) },
  'POST /api/messages/{id}/replay': { tenant: statuses('POST', (c) => `/api/messages/${c.a.messageId}/replay`, 'messages:replay', [200], [404]) },
  'POST /api/messages/replay': {
    tenant: {
      async run(c) {
        const b = await c.call('POST', '/api/messages/replay', await c.tok(B, 'messages:replay'), { ids: [c.a.messageId] });
        expect(b.status).to.equal(202);
        expect(b.body.data.matched).to.equal(0);
        const a = await c.call('POST', '/api/messages/replay', await c.tok(A, 'messages:replay'), { ids: [c.a.messageId] });
        expect(a.body.data.matched).to.equal(1);
      },
    },
  },
  'POST /api/messages/replay/preview': {
    tenant: {
      async run(c) {
        const b = await c.call('POST', '/api/messages/replay/preview', await c.tok(B, 'messages:replay'), { ids: [c.a.messageId] });
        expect(b.status).to.equal(202);
        expect(b.body.data.matched).to.equal(0);
        const a = await c.call('POST', '/api/messages/replay/preview', await c.tok(A, 'messages:replay'), { ids: [c.a.messageId] });
        expect(a.body.data.matched).to.equal(1);
      },
    },
  },
  'GET /api/messages/replay/previews/{job_id}': {
    tenant: {
      async run(c) {
        const path = `/api/messages/replay/previews/${c.a.previewJobId}`;
        const b = await c.call('GET', path, await c.tok(B, 'messages:replay'));
        expect(b.status, b.text.slice(0, 300)).to.equal(404);
        for (let i = 0; i < 200; i++) {
          const a = await c.call('GET', path, await c.tok(A, 'messages:replay'));
          if (a.status === 409) {
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          expect(a.status, a.text.slice(0, 300)).to.equal(200);
          expect(a.body.messages.map((m: { id: string }) => m.id)).to.deep.equal([c.a.messageId]);
          return;
        }
        throw new Error('the preview job did not finish');
      },
    },
  },
  'GET /api/mappings': { notTenantData: 'mappings are installation-wide configuration, read by operators (scope admin)' },
  'PUT /api/mappings/{name}/current': { notTenantData: 'the current mapping version is installation-wide, switched by operators (scope admin)' },
  'POST /api/webhooks/pridok/referrals': {
    tenant: {
      async run(c) {
        // The same JournalGuid signed by A and by B is two messages, each in its own tenant.
        const payload = Buffer.from(JSON.stringify(pridokPayload()));
        const post = (secret?: string) => fetch(`${c.e.url}/api/webhooks/pridok/referrals`, { method: 'POST', headers: pridokHeaders(payload, secret), body: new Uint8Array(payload) });
        const a = await post();
        expect(a.status).to.equal(201);
        const aRefs = ((await a.json()) as { data: { patient: string; message_id: string } }).data;
        const b = await post(OTHER_PRIDOK_SECRET);
        expect(b.status).to.equal(201);
        const bRefs = ((await b.json()) as { data: { patient: string; message_id: string } }).data;
        expect(bRefs.message_id).not.to.equal(aRefs.message_id);
        expect(bRefs.patient).not.to.equal(aRefs.patient);
      },
    },
  },
  'GET /api/registries': GLOBAL_REGISTRIES,
  'GET /api/registries/{name}': GLOBAL_REGISTRIES,
  'POST /api/registries/{name}': GLOBAL_REGISTRIES,
  'GET /api/registries/{name}/{id}': GLOBAL_REGISTRIES,
  'PUT /api/registries/{name}/{id}': GLOBAL_REGISTRIES,
  'DELETE /api/registries/{name}/{id}': GLOBAL_REGISTRIES,
  'POST /api/patients/{patient_id}/care_plans': {
    notTenantData: 'creates a plan managed by the caller’s own legal entity (patients are shared registry data); reads are checked below',
  },
  'GET /api/patients/{patient_id}/care_plans': {
    tenant: {
      async run(c) {
        const path = `/api/patients/${c.wA.patientId}/care_plans`;
        const b = await cpHttp(c.e, 'GET', path, c.wB.token);
        expect(b.status).to.equal(200);
        expect(dataIds(b.body)).not.to.include(c.wA.carePlanId);
        const a = await cpHttp(c.e, 'GET', path, c.wA.token);
        expect(dataIds(a.body)).to.include(c.wA.carePlanId);
      },
    },
  },
  'GET /api/patients/{patient_id}/care_plans/{id}': { tenant: carePlan('GET', planPath, [200], [404]) },
  'POST /api/patients/{patient_id}/care_plans/{care_plan_id}/activities': {
    tenant: {
      async run(c) {
        // For B the plan does not exist: the answer a plan that does not exist gets.
        const content = c.wA.activity();
        const b = await c.wB.postSigned(await sign(content, c.wB.signer), c.wA.carePlanId);
        expect(b.status, JSON.stringify(b.body)).to.equal(422);
        expect(b.body.error.message).to.equal('Care plan with such id is not found');
      },
    },
  },
  'GET /api/patients/{patient_id}/care_plans/{care_plan_id}/activities': { tenant: carePlan('GET', (c) => `${planPath(c)}/activities`, [200], [404]) },
  'GET /api/patients/{patient_id}/care_plans/{care_plan_id}/activities/{id}': {
    tenant: carePlan('GET', (c) => `${planPath(c)}/activities/${c.activityId}`, [200], [404]),
  },
  'GET /api/patients/{patient_id}/care_plans/{care_plan_id}/activities/{id}/signed_content': {
    tenant: carePlan('GET', (c) => `${planPath(c)}/activities/${c.activityId}/signed_content`, [200], [404]),
  },
};

/**
 * B's stream of its own events from the start holds none of A's (read for a second: a stream has no end), A's from the
 * start holds A's consultation.
 */
async function eventStreamProbe(c: Ctx, path: (tenant: string) => string, bToken: () => Promise<string>, aToken: () => Promise<string>): Promise<void> {
  const b = await SseClient.open(`${c.e.url}${path(B)}`, await bToken());
  try {
    expect(b.status).to.equal(200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(b.events.map((ev) => ev.data.consultation.id)).not.to.include(c.a.consultationId);
  } finally {
    b.close();
  }
  const a = await SseClient.open(`${c.e.url}${path(A)}`, await aToken());
  try {
    expect(a.status).to.equal(200);
    await a.waitUntil(() => a.events.some((ev) => ev.data.consultation.id === c.a.consultationId), 10_000, () => `A's consultation in A's stream`);
  } finally {
    a.close();
  }
}

async function reportRows(c: Ctx, tenant: string, reportId: string): Promise<number> {
  const token = await c.tok(tenant, 'consultation_result:read');
  for (let i = 0; i < 200; i++) {
    const r = await c.call('GET', `/api/consultations/reports/${reportId}`, token);
    if (r.body.data?.status === 'ready') return r.body.data.row_count as number;
    if (r.body.data?.status === 'failed') throw new Error(`report ${reportId} failed`);
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`report ${reportId} not ready`);
}

/** The FHIR interactions and operations (CapabilityStatement codes) and how each is checked. */
export const FHIR_ROWS: Record<string, Row> = {
  read: { tenant: fhirStatus((c) => `/fhir/Patient/${c.a.patientId}`, [200], [404]) },
  vread: { tenant: fhirStatus((c) => `/fhir/Patient/${c.a.patientId}/_history/1`, [200], [404]) },
  'history-instance': { tenant: fhirStatus((c) => `/fhir/Patient/${c.a.patientId}/_history`, [200], [404]) },
  'search-type': {
    tenant: {
      async run(c) {
        const searches = [
          `/fhir/Patient?_id=${c.a.patientId}`,
          `/fhir/ServiceRequest?subject=Patient/${c.a.patientId}`,
          `/fhir/ServiceRequest?_id=${c.a.serviceRequestId}&_include=ServiceRequest:subject`,
          `/fhir/Patient?_id=${c.a.patientId}&_revinclude=ServiceRequest:subject`,
          `/fhir/AuditEvent?patient=Patient/${c.a.patientId}`,
        ];
        for (const s of searches) {
          const b = await c.call('GET', s, await c.tok(B, 'system/*.read'));
          expect(b.status, s).to.equal(200);
          expect(((b.body as Bundle).entry ?? []).filter((x) => x.search?.mode !== 'outcome'), `B ${s}`).to.have.length(0);
          const a = await c.call('GET', s, await c.tok(A, 'system/*.read'));
          expect(((a.body as Bundle).entry ?? []).length, `A ${s}`).to.be.greaterThan(0);
        }
      },
    },
  },
  create: {
    tenant: {
      async run(c) {
        // B's conditional create with the criteria of A's Observation creates B's own; it never answers with A's.
        const criteria = `_id=${c.a.observationId}`;
        const mine = await c.call('POST', '/fhir/Observation', await c.tok(A, 'system/*.write'), observation(c), { 'if-none-exist': criteria });
        expect(mine.status, mine.text).to.equal(200);
        expect(mine.body.id).to.equal(c.a.observationId);
        const res = await c.call('POST', '/fhir/Observation', await c.tok(B, 'system/*.write'), observation(c), { 'if-none-exist': criteria });
        expect(res.status, res.text).to.equal(201);
        expect(res.body.id).not.to.equal(c.a.observationId);
      },
    },
  },
  update: {
    tenant: {
      async run(c) {
        const path = `/fhir/Observation/${c.a.observationId}`;
        const before = (await c.call('GET', path, await c.tok(A, 'system/*.read'))).body as Resource;
        const b = await c.call('PUT', path, await c.tok(B, 'system/*.write'), { ...observation(c), id: c.a.observationId, status: 'cancelled' }, {
          'if-match': `W/"${before.meta!.versionId}"`,
        });
        // For B there is no such Observation: the version it names is not current (412), nothing of A's changes.
        expect([404, 412], b.text).to.include(b.status);
        const after = (await c.call('GET', path, await c.tok(A, 'system/*.read'))).body as Resource & { status: string };
        expect(after.meta!.versionId).to.equal(before.meta!.versionId);
        expect(after.status).to.equal('final');
      },
    },
  },
  delete: {
    tenant: {
      async run(c) {
        const path = `/fhir/Observation/${c.a.observationId}`;
        const b = await c.call('DELETE', path, await c.tok(B, 'system/*.write'));
        expect([200, 204, 404], b.text).to.include(b.status);
        const a = await c.call('GET', path, await c.tok(A, 'system/*.read'));
        expect(a.status).to.equal(200);
      },
    },
  },
  $lookup: { notTenantData: 'terminology over the shared dictionaries' },
  '$validate-code': { notTenantData: 'terminology over the shared dictionaries' },
  $expand: { notTenantData: 'terminology over the shared dictionaries' },
};

function observation(c: Ctx): Record<string, unknown> {
  return { resourceType: 'Observation', status: 'final', code: { text: 'matrix' }, subject: { reference: `Patient/${c.a.patientId}` } };
}

function fhirStatus(path: (c: Ctx) => string, aStatuses: number[], bStatuses: number[]): Probe {
  return statuses('GET', path, 'system/*.read', aStatuses, bStatuses);
}

describe('tenant matrix: every API route and FHIR interaction, legal entities A and B', function () {
  this.timeout(180_000);
  let c: Ctx;

  before(async () => {
    const e = await startCarePlanEngine({ CONSULTATION_REPORT_SCHEDULE: 'off' });
    const tok = (tenant: string, scope: string, sub = 'user-1') => e.token(scope, { clientId: tenant, sub });
    const call: Ctx['call'] = async (method, path, token, body, headers = {}) => {
      const res = await fetch(`${e.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': path.startsWith('/fhir') ? 'application/fhir+json' : 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed as any, text };
    };
    // A's data: an ingested referral, a consultation on it with a finished result, a report, a replay job.
    const rec = await ingest(e, variant(NY));
    expect(rec.status).to.equal('1');
    const msg = await call('GET', `/api/messages/${rec.messageId}`, await tok(A, 'messages:read'));
    const refs = (msg.body.data.fhir as { reference: string }[]).map((f) => f.reference);
    const patientId = refs.find((r) => r.startsWith('Patient/'))!.split('/')[1];
    // A's deal with the insurer org-matrix: A's consultations get order lines.
    const dealBody = { tenant: A, insurer_organization_id: 'org-matrix', service: { code: 'consultation' }, unit_price: '100.00', currency: 'NOK', valid_from: '2020-01-01' };
    const dealRes = await call('PUT', '/api/registries/deals/deal-matrix', await tok(A, 'registries:write'), dealBody);
    expect(dealRes.status, dealRes.text).to.equal(201);
    const { serviceRequestId } = await makeReferral(e, 'org-matrix');
    const created = await call('POST', '/api/consultations', await tok(A, 'consultations:write'), { service_request_id: serviceRequestId });
    expect(created.status, created.text).to.equal(201);
    const consultationId = created.body.data.id as string;
    const orders = await call('GET', `/api/billing/orders?consultation_id=${consultationId}`, await tok(A, 'billing:read'));
    const orderId = orders.body.data[0].id as string;
    // A completed consultation of A's, so that A's report has a row.
    const done = await makeReferral(e, 'org-matrix');
    const c2 = (await call('POST', '/api/consultations', await tok(A, 'consultations:write'), { service_request_id: done.serviceRequestId })).body.data.id;
    const pr = await tok(A, 'consultations:read consultations:write', 'pract-a');
    for (const [step, body] of [['pick', undefined], ['start', undefined], ['finish', { icpc2: 'R74', outcome: 'helped', notes: 'A only' }]] as const) {
      const r = await call('POST', `/api/consultations/${c2}/${step}`, pr, body ?? {});
      expect(r.status, `${step} ${r.text}`).to.equal(200);
    }
    const range = { from: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10), to: new Date(Date.now() + 86_400_000).toISOString().slice(0, 10) };
    const report = await call('POST', '/api/consultations/reports', await tok(A, 'consultation_result:read job:read'), range);
    expect(report.status, report.text).to.equal(202);
    const replay = await call('POST', '/api/messages/replay', await tok(A, 'messages:replay'), { ids: [rec.messageId] });
    const jobId = (replay.body.data.links[0].href as string).split('/').pop()!;
    const preview = await call('POST', '/api/messages/replay/preview', await tok(A, 'messages:replay'), { ids: [rec.messageId] });
    const previewJobId = (preview.body.data.links[0].href as string).split('/').pop()!;
    // Care plans: A's world manages a plan with one activity; B is another legal entity with its own world.
    const wA = await newWorld(e);
    const wB = await newWorld(e);
    const content = wA.activity();
    const ran = await wA.run(content);
    expect(ran.job.status).to.equal(303);
    c = {
      e,
      tok,
      call,
      a: { messageId: rec.messageId, patientId, serviceRequestId, consultationId, completedId: c2, orderId, reportId: report.body.data.id, jobId, previewJobId, observationId: '' },
      wA,
      wB,
      activityId: content.id,
    };
    const obs = await call('POST', '/fhir/Observation', await tok(A, 'system/*.write'), observation(c));
    expect(obs.status, obs.text).to.equal(201);
    c.a.observationId = obs.body.id;
    // The report must be ready before the rows are compared.
    await reportRows(c, A, c.a.reportId);
    // The FHIR audit trail has A's reads.
    await call('GET', `/fhir/Patient/${patientId}`, await tok(A, 'system/*.read'));
    await e.ctx.audit.flush();
  });

  after(async () => {
    await c?.e.stop();
  });

  it('has a row for every route in /api/openapi.json and every FHIR interaction and operation', async () => {
    const doc = (await (await fetch(`${c.e.url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops)
        .filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
        .map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(routes.length).to.be.greaterThan(40);
    expect(routes.filter((r) => !(r in API_ROWS)), 'routes without a tenancy row').to.deep.equal([]);
    const cap = (await c.call('GET', '/fhir/metadata', await c.tok(A, 'system/*.read'))).body as CapabilityStatement;
    const codes = new Set<string>();
    for (const rest of cap.rest ?? []) {
      for (const r of rest.resource ?? []) {
        for (const i of r.interaction ?? []) codes.add(i.code!);
        for (const o of r.operation ?? []) codes.add(`$${o.name}`);
      }
      for (const o of rest.operation ?? []) codes.add(`$${o.name}`);
    }
    expect(codes.size).to.be.greaterThan(5);
    expect([...codes].filter((k) => !(k in FHIR_ROWS)), 'FHIR interactions without a tenancy row').to.deep.equal([]);
  });

  // Order matters only for the consultation lifecycle rows (pick → assign → start → notify → finish → cancel).
  for (const [route, row] of Object.entries(API_ROWS)) {
    if ('notTenantData' in row) continue;
    it(`${route}: B gets nothing of A's, A's token works`, async () => {
      await row.tenant.run(c);
    });
  }
  for (const [code, row] of Object.entries(FHIR_ROWS)) {
    if ('notTenantData' in row) continue;
    it(`FHIR ${code}: B gets nothing of A's, A's token works`, async () => {
      await row.tenant.run(c);
    });
  }
});
