/**
 * Helpers of the consultation tests: HTTP calls, tokens per role, referrals (Patient + ServiceRequest written through
 * the FHIR repository, like ingestion does) and walking a consultation to a state.
 */
import { TEST_TENANT } from '../support/harness.js';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { mintLocalToken } from '../../src/platform/auth/keys.js';
import type { TestEngine } from '../support/harness.js';

export interface ApiResponse {
  status: number;
  body: any;
  headers: Headers;
}

export async function api(eng: TestEngine, method: string, path: string, token: string | undefined, body?: unknown): Promise<ApiResponse> {
  const res = await fetch(`${eng.url}${path}`, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    redirect: 'manual',
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export interface Tokens {
  supervisor: string;
  reader: string;
  resultReader: string;
  practitioner(id: string): Promise<string>;
}

/** Tokens signed with the engine's local key (of its DATA_DIR, also when a test overrides DATA_DIR). */
export async function tokens(eng: TestEngine): Promise<Tokens> {
  const mint = (scope: string, sub: string) => mintLocalToken(eng.config.dataDir, { scope, sub, clientId: TEST_TENANT });
  return {
    supervisor: await mint('consultations:read consultations:write consultations:supervise', 'supervisor-1'),
    reader: await mint('consultations:read', 'reader-1'),
    resultReader: await mint('consultations:read consultation_result:read job:read', 'insurer-analyst-1'),
    practitioner: (id: string) => mint('consultations:read consultations:write', id),
  };
}

/** A valid synthetic national id (Tenor test number: month + 80). */
export function testNationalId(seed: number): string {
  const W1 = [3, 7, 6, 1, 8, 9, 4, 5, 2];
  const W2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
  for (let individual = 100 + (seed % 300); ; individual++) {
    const base = `1${(seed % 9) + 1}8${(seed % 2) + 1}05${String(individual).padStart(3, '0')}`.slice(0, 9);
    const d = [...base].map(Number);
    const r1 = 11 - (W1.reduce((s, w, i) => s + w * d[i], 0) % 11);
    const k1 = r1 === 11 ? 0 : r1;
    if (k1 === 10) continue;
    d.push(k1);
    const r2 = 11 - (W2.reduce((s, w, i) => s + w * d[i], 0) % 11);
    const k2 = r2 === 11 ? 0 : r2;
    if (k2 === 10) continue;
    return `${base}${k1}${k2}`;
  }
}

/** Patient + ServiceRequest (the referral), as referral ingestion writes them. */
export async function makeReferral(eng: TestEngine, organizationId: string, opts: { nationalId?: string } = {}): Promise<{ serviceRequestId: string; patientId: string }> {
  const fhir = eng.ctx.fhir.forTenant(TEST_TENANT);
  const patient = await fhir.create<Patient>({
    resourceType: 'Patient',
    identifier: [{ system: 'urn:oid:2.16.578.1.12.4.1.4.1', value: opts.nationalId ?? testNationalId(Math.floor(Math.random() * 1000)) }],
    name: [{ family: 'Danser', given: ['Line'] }],
  });
  const sr = await fhir.create<ServiceRequest>({
    resourceType: 'ServiceRequest',
    status: 'active',
    intent: 'order',
    subject: { reference: `Patient/${patient.id}` },
    performer: [{ reference: `Organization/${organizationId}` }],
    identifier: [{ system: 'https://hl7-engine.dev/fhir/NamingSystem/pridok-journal-guid', value: randomUUID() }],
  });
  return { serviceRequestId: sr.id!, patientId: patient.id! };
}

export async function createConsultation(eng: TestEngine, token: string, serviceRequestId: string): Promise<any> {
  const res = await api(eng, 'POST', '/api/consultations', token, { service_request_id: serviceRequestId });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return res.body.data;
}

export async function ok(resP: Promise<ApiResponse>, status = 200): Promise<any> {
  const res = await resP;
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  return res.body.data;
}

export const RESULT = {
  icpc2: 'R74',
  outcome: 'referred_gp',
  patient_job_description: 'Welder at Tromsø shipyard XJ7Q',
  notes: 'Sore throat for three days, no fever. Marker NOTE-Z93K-PLAIN.',
  policy_number: 'POL-88817263',
};

/** A consultation walked to `completed` by `practitionerId`, with `result` (+ optional overrides). */
export async function completedConsultation(
  eng: TestEngine,
  t: Tokens,
  organizationId: string,
  practitionerId: string,
  result: Record<string, unknown> = RESULT,
): Promise<any> {
  const { serviceRequestId } = await makeReferral(eng, organizationId);
  const c = await createConsultation(eng, t.supervisor, serviceRequestId);
  const pt = await t.practitioner(practitionerId);
  await ok(api(eng, 'POST', `/api/consultations/${c.id}/pick`, pt));
  await ok(api(eng, 'POST', `/api/consultations/${c.id}/start`, pt));
  return ok(api(eng, 'POST', `/api/consultations/${c.id}/finish`, pt, result));
}

export function uniqueOrg(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
