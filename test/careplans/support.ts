/**
 * Care plan test world: an isolated engine trusting the test CA, registry records of one clinic (legal entity, party,
 * employee, patient, medication INNM_DOSAGE + BRAND, program, services, conditions, approvals), care plans created
 * over HTTP, and helpers to post signed activities and follow their jobs.
 */
import { randomUUID } from 'node:crypto';
import { startTestEngine, type TestEngine } from '../support/harness.js';
import { sign, testPki, type Signer } from './pki.js';
import type { RegistryName } from '../../src/registries/types.js';

export const ICD10 = 'eHealth/ICD10_AM/condition_codes';
export const ICPC2 = 'eHealth/ICPC2/condition_codes';

export async function startCarePlanEngine(env: Record<string, string> = {}): Promise<TestEngine> {
  const pki = await testPki();
  const eng = await startTestEngine({ env: { SIGNATURE_TRUST_ANCHORS: pki.rootPem, JOBS_POLL_INTERVAL_MS: '200', ...env } });
  return eng;
}

export const reference = (code: string, value: string) => ({
  identifier: { type: { coding: [{ system: 'eHealth/resources', code }] }, value },
});

export interface HttpResult {
  status: number;
  body: any;
  headers: Headers;
}

export async function http(e: TestEngine, method: string, path: string, token?: string, body?: unknown): Promise<HttpResult> {
  const res = await fetch(e.url + path, {
    method,
    redirect: 'manual',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* binary */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export interface CarePlanOptions {
  addresses?: { system: string; code: string }[];
  terms?: string;
  periodEnd?: string | null;
  id?: string;
}

export class World {
  readonly userId = `user-${randomUUID()}`;
  readonly legalEntityId = randomUUID();
  readonly partyId = randomUUID();
  readonly employeeId = randomUUID();
  readonly patientId = randomUUID();
  readonly innmDosageId = randomUUID();
  readonly brandId = randomUUID();
  readonly programId = randomUUID();
  readonly programMedicationId = randomUUID();
  readonly serviceId = randomUUID();
  readonly serviceGroupId = randomUUID();
  readonly conditionId = randomUUID();
  readonly clinicalImpressionId = randomUUID();
  carePlanId = '';
  token = '';
  signer: Signer;

  constructor(
    readonly e: TestEngine,
    signer: Signer,
  ) {
    this.signer = signer;
  }

  async put(name: RegistryName, records: Record<string, unknown>[]): Promise<void> {
    await this.e.ctx.registries.upsertMany(name, records, 'test');
  }

  /** Changes fields of a registry record. */
  async patch(name: RegistryName, id: string, patch: Record<string, unknown>): Promise<void> {
    const current = (await this.e.ctx.registries.get(name, id)) as unknown as Record<string, unknown>;
    const { inserted_at: _a, inserted_by: _b, updated_at: _c, updated_by: _d, ...rest } = current;
    await this.put(name, [{ ...rest, ...patch }]);
  }

  async setup(opts: { taxId?: string } = {}): Promise<this> {
    const dosage = { numerator_unit: 'MG', numerator_value: 500, denumerator_unit: 'PILL', denumerator_value: 1 };
    await this.put('legal_entities', [{ id: this.legalEntityId, name: 'Clinic', type: 'PRIMARY_CARE', status: 'ACTIVE' }]);
    await this.put('parties', [{ id: this.partyId, tax_id: opts.taxId ?? '3012345678', users: [this.userId], verification_status: 'VERIFIED' }]);
    await this.put('employees', [
      {
        id: this.employeeId,
        party_id: this.partyId,
        legal_entity_id: this.legalEntityId,
        employee_type: 'DOCTOR',
        status: 'APPROVED',
        is_active: true,
        speciality: { speciality: 'THERAPIST', speciality_officio: true },
      },
    ]);
    await this.put('patients', [{ id: this.patientId, status: 'active' }]);
    await this.put('medications', [
      { id: this.innmDosageId, name: 'Metformin 500 mg', type: 'INNM_DOSAGE', form: 'TABLET', is_active: true, ingredients: [{ id: randomUUID(), is_primary: true, dosage }] },
      { id: this.brandId, name: 'Siofor', type: 'BRAND', form: 'TABLET', is_active: true, ingredients: [{ id: this.innmDosageId, is_primary: true, dosage }] },
    ]);
    await this.put('medical_programs', [
      {
        id: this.programId,
        name: 'Affordable medicines',
        is_active: true,
        medical_program_settings: {
          speciality_types_allowed: ['THERAPIST', 'FAMILY_DOCTOR'],
          conditions_icd10_am_allowed: ['E11.90'],
          providing_conditions_allowed: ['OUTPATIENT'],
        },
      },
    ]);
    await this.put('program_medications', [
      { id: this.programMedicationId, medical_program_id: this.programId, medication_id: this.brandId, is_active: true, care_plan_activity_allowed: true },
    ]);
    await this.put('services', [{ id: this.serviceId, name: 'Blood glucose test', code: 'BG1', is_active: true }]);
    await this.put('service_groups', [{ id: this.serviceGroupId, name: 'Laboratory', code: 'LAB', is_active: true }]);
    await this.put('program_services', [
      { id: randomUUID(), medical_program_id: this.programId, service_id: this.serviceId, is_active: true },
      { id: randomUUID(), medical_program_id: this.programId, service_group_id: this.serviceGroupId, is_active: true },
    ]);
    await this.put('conditions', [{ id: this.conditionId, patient_id: this.patientId, code: { coding: [{ system: ICD10, code: 'E11.90' }] } }]);
    await this.put('clinical_impressions', [
      { id: this.clinicalImpressionId, patient_id: this.patientId, code: { coding: [{ system: 'eHealth/clinical_impression_patient_categories', code: 'insulin_1' }] } },
    ]);
    this.token = await this.e.token('care_plan:write care_plan:read job:read', { sub: this.userId, clientId: this.legalEntityId });
    this.carePlanId = await this.createCarePlan();
    return this;
  }

  /** A care plan created over HTTP, with an active write approval for the employee. */
  async createCarePlan(opts: CarePlanOptions = {}): Promise<string> {
    const start = new Date(Date.now() - 10 * 86_400_000).toISOString();
    const end = opts.periodEnd === null ? undefined : opts.periodEnd ?? new Date(Date.now() + 30 * 86_400_000).toISOString();
    const body = {
      ...(opts.id ? { id: opts.id } : {}),
      category: { coding: [{ system: 'eHealth/care_plan_categories', code: 'diabetics' }] },
      title: 'Diabetes care plan',
      period: end ? { start, end } : { start },
      intent: 'order',
      addresses: (opts.addresses ?? [{ system: ICD10, code: 'E11.90' }]).map((c) => ({ coding: [c] })),
      author: reference('employee', this.employeeId),
      terms_of_service: { coding: [{ system: 'PROVIDING_CONDITION', code: opts.terms ?? 'OUTPATIENT' }] },
    };
    const res = await http(this.e, 'POST', `/api/patients/${this.patientId}/care_plans`, this.token, body);
    if (res.status !== 201) throw new Error(`care plan not created: ${res.status} ${JSON.stringify(res.body)}`);
    const id = res.body.data.id as string;
    await this.approve(id);
    return id;
  }

  async approve(carePlanId: string, patch: Record<string, unknown> = {}): Promise<string> {
    const id = randomUUID();
    await this.put('approvals', [
      {
        id,
        patient_id: this.patientId,
        granted_to: this.employeeId,
        granted_resources: [{ resource_type: 'care_plan', id: carePlanId }],
        access_level: 'write',
        status: 'active',
        ...patch,
      },
    ]);
    return id;
  }

  /** Signed content of a valid medication_request activity (override with `mutate`). */
  activity(mutate?: (a: any) => void, carePlanId = this.carePlanId): any {
    const a = {
      id: randomUUID(),
      author: reference('employee', this.employeeId),
      care_plan: reference('care_plan', carePlanId),
      detail: {
        kind: 'medication_request',
        product_reference: reference('medication', this.innmDosageId),
        reason_code: [{ coding: [{ system: ICD10, code: 'E11.90' }] }],
        reason_reference: [reference('condition', this.conditionId)],
        goal: [{ coding: [{ system: 'eHealth/care_plan_activity_goals', code: 'diabetes_treatment' }] }],
        quantity: { value: 60, system: 'MEDICATION_UNIT', code: 'PILL' },
        daily_amount: { value: 2, system: 'MEDICATION_UNIT', code: 'PILL' },
        scheduled_period: { start: new Date().toISOString(), end: new Date(Date.now() + 20 * 86_400_000).toISOString() },
        description: 'Metformin twice a day',
        do_not_perform: false,
        program: reference('medical_program', this.programId),
        status: 'scheduled',
      },
    };
    mutate?.(a);
    return a;
  }

  activitiesPath(carePlanId = this.carePlanId): string {
    return `/api/patients/${this.patientId}/care_plans/${carePlanId}/activities`;
  }

  async postSigned(signedData: string, carePlanId = this.carePlanId, token = this.token): Promise<HttpResult> {
    return http(this.e, 'POST', this.activitiesPath(carePlanId), token, { signed_data: signedData });
  }

  /** Signs `content` (with this world's signer unless given) and posts it. */
  async post(content: unknown, opts: { signers?: Signer[]; carePlanId?: string } = {}): Promise<HttpResult> {
    const signed = await sign(content, ...(opts.signers ?? [this.signer]));
    return this.postSigned(signed, opts.carePlanId);
  }

  /** Polls the job until it leaves pending; answers the final GET /api/jobs/:id. */
  async waitJob(jobHref: string, timeoutMs = 20_000): Promise<HttpResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await http(this.e, 'GET', jobHref, this.token);
      if (res.status !== 200 || res.body?.data?.status !== 'pending') return res;
      if (Date.now() > deadline) throw new Error(`job ${jobHref} still pending after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Posts signed content and waits for its job. */
  async run(content: unknown, opts: { signers?: Signer[]; carePlanId?: string } = {}): Promise<{ post: HttpResult; job: HttpResult }> {
    const post = await this.post(content, opts);
    if (post.status !== 202) throw new Error(`expected 202, got ${post.status} ${JSON.stringify(post.body)}`);
    const job = await this.waitJob(post.body.data.links[0].href);
    return { post, job };
  }
}

export async function newWorld(e: TestEngine, opts: { taxId?: string; signer?: keyof Omit<Awaited<ReturnType<typeof testPki>>, 'dir' | 'rootPem'> } = {}): Promise<World> {
  const pki = await testPki();
  return new World(e, pki[opts.signer ?? 'doctor']).setup({ taxId: opts.taxId });
}
