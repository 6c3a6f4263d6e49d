/**
 * The synchronous checks of POST .../activities: each answers with its exact status and message, in the envelope,
 * before any job exists.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { TestEngine } from '../support/harness.js';
import { sign } from './pki.js';
import { http, newWorld, startCarePlanEngine, type HttpResult, type World } from './support.js';

function expectError(res: HttpResult, status: number, type: string, message: string): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.body.meta).to.include({ code: status, type: 'object' });
  expect(res.body.error).to.deep.equal({ type, message });
}

describe('care plan activities: synchronous checks (NOTES §1-2)', function () {
  this.timeout(60_000);
  let e: TestEngine;
  let w: World;
  let signed: string;
  let jobsBefore: number;

  before(async () => {
    e = await startCarePlanEngine({ BLOCK_UNVERIFIED_PARTY_USERS: 'true', UNVERIFIED_PARTY_PERIOD_DAYS_ALLOWED: '30' });
  });
  after(async () => e?.stop());
  beforeEach(async () => {
    w = await newWorld(e);
    signed = await sign(w.activity(), w.signer);
    jobsBefore = await e.ctx.jobs.jobs.countDocuments({ name: 'care_plan_activity.create' });
  });
  afterEach(async function () {
    // A refused request never becomes a job (the passing control cases create one on purpose).
    if (this.currentTest?.title.startsWith('passes')) return;
    expect(await e.ctx.jobs.jobs.countDocuments({ name: 'care_plan_activity.create' })).to.equal(jobsBefore);
  });

  const post = (token?: string, body: unknown = { signed_data: signed }, carePlanId = w.carePlanId, patientId = w.patientId) =>
    http(e, 'POST', `/api/patients/${patientId}/care_plans/${carePlanId}/activities`, token, body);

  it('401 without a bearer token', async () => {
    expectError(await post(undefined), 401, 'access_denied', "Authorization header is not set or doesn't contain Bearer token");
  });

  it('401 "Invalid access token" for a bad or expired token', async () => {
    expectError(await post('not.a.token'), 401, 'access_denied', 'Invalid access token');
    const expired = await e.token('care_plan:write', { sub: w.userId, clientId: w.legalEntityId, expiresIn: '-1h' });
    expectError(await post(expired), 401, 'access_denied', 'Invalid access token');
  });

  it('403 when the scope care_plan:write is missing', async () => {
    const token = await e.token('care_plan:read job:read', { sub: w.userId, clientId: w.legalEntityId });
    expectError(await post(token), 403, 'forbidden', 'Your scope does not allow to access this resource. Missing allowances: care_plan:write');
  });

  it('404 for an unknown patient', async () => {
    expectError(await post(w.token, undefined, w.carePlanId, randomUUID()), 404, 'not_found', 'Patient not found');
  });

  it("403 when the user's party is NOT_VERIFIED beyond UNVERIFIED_PARTY_PERIOD_DAYS_ALLOWED", async () => {
    await w.patch('parties', w.partyId, { verification_status: 'NOT_VERIFIED', verification_updated_at: new Date(Date.now() - 40 * 86_400_000).toISOString() });
    expectError(await post(w.token), 403, 'forbidden', 'Access denied. Party is not verified');
  });

  it('passes a NOT_VERIFIED party still within the allowed period', async () => {
    await w.patch('parties', w.partyId, { verification_status: 'NOT_VERIFIED', verification_updated_at: new Date(Date.now() - 86_400_000).toISOString() });
    expect((await post(w.token)).status).to.equal(202);
  });

  it('409 when the legal entity of client_id is not active (or unknown)', async () => {
    await w.patch('legal_entities', w.legalEntityId, { status: 'SUSPENDED' });
    expectError(await post(w.token), 409, 'request_conflict', 'client_id refers to legal entity that is not active');
    const unknown = await e.token('care_plan:write', { sub: w.userId, clientId: randomUUID() });
    expectError(await post(unknown), 409, 'request_conflict', 'client_id refers to legal entity that is not active');
  });

  it('409 when the legal entity type may not create medical events', async () => {
    await w.patch('legal_entities', w.legalEntityId, { type: 'PHARMACY' });
    expectError(
      await post(w.token),
      409,
      'request_conflict',
      'client_id refers to legal entity with type that is not allowed to create medical events transactions',
    );
  });

  it("422 when the care plan is unknown or another patient's", async () => {
    expectError(await post(w.token, undefined, randomUUID()), 422, 'validation_failed', 'Care plan with such id is not found');
    const other = await newWorld(e);
    expectError(await post(w.token, undefined, other.carePlanId), 422, 'validation_failed', 'Care plan with such id is not found');
  });

  for (const status of ['completed', 'cancelled', 'terminated']) {
    it(`422 when the care plan is ${status}`, async () => {
      await e.ctx.database.db.collection('care_plans').updateOne({ _id: w.carePlanId as never }, { $set: { status } });
      expectError(await post(w.token), 422, 'validation_failed', 'Invalid care plan status');
    });
  }

  it('422 when the care plan period has ended', async () => {
    const expired = await w.createCarePlan({ periodEnd: new Date(Date.now() - 2 * 86_400_000).toISOString() });
    expectError(await post(w.token, { signed_data: await sign(w.activity(undefined, expired), w.signer) }, expired), 422, 'validation_failed', 'Care Plan end date is expired');
  });

  it('409 when the patient is not active', async () => {
    await w.patch('patients', w.patientId, { status: 'inactive' });
    expectError(await post(w.token), 409, 'request_conflict', 'Person is not active');
  });

  it('403 "Access denied" without an active write approval on this care plan', async () => {
    const approvals = await e.ctx.registries.find('approvals', { patient_id: w.patientId });
    for (const a of approvals) await e.ctx.registries.remove('approvals', a.id);
    expectError(await post(w.token), 403, 'forbidden', 'Access denied');
    const readOnly = await w.approve(w.carePlanId, { access_level: 'read' });
    expectError(await post(w.token), 403, 'forbidden', 'Access denied');
    await e.ctx.registries.remove('approvals', readOnly);
    const expired = await w.approve(w.carePlanId, { expires_at: new Date(Date.now() - 1000).toISOString() });
    expectError(await post(w.token), 403, 'forbidden', 'Access denied');
    await e.ctx.registries.remove('approvals', expired);
    await w.approve(w.carePlanId, { status: 'rejected' });
    await w.approve(randomUUID());
    expectError(await post(w.token), 403, 'forbidden', 'Access denied');
  });

  it('403 "Access denied" when the approved employee is dismissed', async () => {
    await w.patch('employees', w.employeeId, { status: 'DISMISSED' });
    expectError(await post(w.token), 403, 'forbidden', 'Access denied');
  });

  it('422 when the user writes from another legal entity than the care plan\'s managing organization', async () => {
    const le2 = randomUUID();
    const emp2 = randomUUID();
    await w.put('legal_entities', [{ id: le2, name: 'Second clinic', type: 'OUTPATIENT', status: 'ACTIVE' }]);
    await w.put('employees', [{ id: emp2, party_id: w.partyId, legal_entity_id: le2, employee_type: 'DOCTOR', status: 'APPROVED', is_active: true }]);
    await w.put('approvals', [
      { id: randomUUID(), patient_id: w.patientId, granted_to: emp2, granted_resources: [{ resource_type: 'care_plan', id: w.carePlanId }], access_level: 'write', status: 'active' },
    ]);
    const token = await e.token('care_plan:write', { sub: w.userId, clientId: le2 });
    expectError(await post(token), 422, 'validation_failed', 'User is not allowed to write care plan from another legal_entity');
  });

  it('422 validation_failed when the body is not exactly {"signed_data": "<non-empty string>"}', async () => {
    const cases: [unknown, string, string, string][] = [
      [{}, '$.signed_data', 'required', 'required property signed_data was not present'],
      [{ signed_data: '' }, '$.signed_data', 'length', 'expected value to have a minimum length of 1 but was 0'],
      [{ signed_data: 42 }, '$.signed_data', 'cast', 'type mismatch. Expected String but got Integer'],
      [{ signed_data: signed, extra: true }, '$.extra', 'schema', 'schema does not allow additional properties'],
    ];
    for (const [body, entry, rule, description] of cases) {
      const res = await post(w.token, body);
      expect(res.status).to.equal(422);
      expect(res.body.error.type).to.equal('validation_failed');
      expect(res.body.error.message).to.match(/^Validation failed: .* docs\/errors\.md\.$/);
      expect(res.body.error.invalid).to.deep.equal([{ entry_type: 'json_data_property', entry, rules: [{ rule, params: res.body.error.invalid[0].rules[0].params, description }] }]);
    }
  });

  it('checks in order: legal entity before care plan before patient status before approval before body', async () => {
    await w.patch('patients', w.patientId, { status: 'inactive' });
    await w.patch('legal_entities', w.legalEntityId, { status: 'CLOSED' });
    expectError(await post(w.token, {}), 409, 'request_conflict', 'client_id refers to legal entity that is not active');
    await w.patch('legal_entities', w.legalEntityId, { status: 'ACTIVE' });
    expectError(await post(w.token, {}, randomUUID()), 422, 'validation_failed', 'Care plan with such id is not found');
    expectError(await post(w.token, {}), 409, 'request_conflict', 'Person is not active');
    await w.patch('patients', w.patientId, { status: 'active' });
    await w.patch('employees', w.employeeId, { is_active: false });
    expectError(await post(w.token, {}), 403, 'forbidden', 'Access denied');
  });

  it('passes all checks: 202 with the job link in the envelope', async () => {
    const res = await post(w.token);
    expect(res.status).to.equal(202);
    expect(res.body.meta.code).to.equal(202);
    expect(res.body.data.status).to.equal('pending');
    expect(res.body.data.eta).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(res.body.data.links).to.deep.equal([{ entity: 'job', href: res.headers.get('location') }]);
  });
});
