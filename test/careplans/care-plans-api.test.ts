/** Care plans through the API: creation (status new), validation, reading (as eHealth JSON and as FHIR CarePlan). */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { TestEngine } from '../support/harness.js';
import { ICD10, http, newWorld, reference, startCarePlanEngine, type World } from './support.js';

describe('care plans API', function () {
  this.timeout(60_000);
  let e: TestEngine;
  let w: World;
  before(async () => {
    e = await startCarePlanEngine();
  });
  after(async () => e?.stop());
  beforeEach(async () => {
    w = await newWorld(e);
  });

  const body = (patch: Record<string, unknown> = {}) => ({
    category: { coding: [{ system: 'eHealth/care_plan_categories', code: 'diabetics' }] },
    title: 'Plan',
    period: { start: '2026-01-01T00:00:00.000Z', end: '2027-01-01T00:00:00.000Z' },
    intent: 'order',
    addresses: [{ coding: [{ system: ICD10, code: 'E11.90' }] }],
    author: reference('employee', w.employeeId),
    terms_of_service: { coding: [{ system: 'PROVIDING_CONDITION', code: 'OUTPATIENT' }] },
    ...patch,
  });
  const create = (b: unknown, token = w.token, patientId = w.patientId) => http(e, 'POST', `/api/patients/${patientId}/care_plans`, token, b);

  it('creates a care plan with status new, in the Care_Plan_Show shape, idempotent by id', async () => {
    const id = randomUUID();
    const res = await create(body({ id }));
    expect(res.status).to.equal(201);
    const p = res.body.data;
    expect(p).to.include({ id, status: 'new', title: 'Plan', intent: 'order' });
    expect(p.subject).to.deep.equal(reference('patient', w.patientId));
    expect(p.managing_organization).to.deep.equal({ ...reference('legal_entity', w.legalEntityId), display_value: 'Clinic' });
    expect(p.requisition).to.match(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(p.status_history).to.have.length(1);
    expect(p.status_history[0]).to.include({ status: 'new', inserted_by: w.userId });
    expect(p.terms_of_service.coding[0].code).to.equal('OUTPATIENT');
    const again = await create(body({ id }));
    expect(again.status).to.equal(200);
    expect(again.body.data.requisition).to.equal(p.requisition);
    const other = await newWorld(e);
    const clash = await create({ ...body({ id }), author: reference('employee', other.employeeId) }, other.token, other.patientId);
    expect(clash.status).to.equal(409);
    // Another legal entity re-posting the id for the same patient learns nothing about the plan.
    const probe = await create({ ...body({ id }), author: reference('employee', other.employeeId) }, other.token, w.patientId);
    expect(probe.status).to.equal(409);
    expect(probe.body.data).to.equal(undefined);
  });

  it('is readable as a FHIR CarePlan (draft while new; addresses as contained Conditions)', async () => {
    const res = await create(body());
    const fhir = await http(e, 'GET', `/fhir/CarePlan/${res.body.data.id}`, await e.token('system/CarePlan.read', { clientId: w.legalEntityId }));
    expect(fhir.status).to.equal(200);
    expect(fhir.body).to.include({ resourceType: 'CarePlan', status: 'draft', intent: 'order', title: 'Plan' });
    expect(fhir.body.addresses).to.deep.equal([{ reference: '#addresses-1' }]);
    expect(fhir.body.contained[0].code.coding[0]).to.deep.equal({ system: ICD10, code: 'E11.90' });
    expect(fhir.body.subject.identifier.value).to.equal(w.patientId);
  });

  it('rejects invalid bodies and codes with 422 validation_failed', async () => {
    const missing = await create(body({ title: undefined }));
    expect(missing.status).to.equal(422);
    expect(missing.body.error.invalid[0]).to.deep.include({ entry: '$.title' });
    const code = await create(body({ addresses: [{ coding: [{ system: ICD10, code: 'NOPE' }] }] }));
    expect(code.status).to.equal(422);
    expect(code.body.error.invalid[0]).to.deep.include({ entry: '$.addresses[0].coding[0].code' });
    expect(code.body.error.invalid[0].rules[0].description).to.equal('value is not allowed in enum');
    const terms = await create(body({ terms_of_service: { coding: [{ system: 'PROVIDING_CONDITION', code: 'AT_HOME' }] } }));
    expect(terms.body.error.invalid[0]).to.deep.include({ entry: '$.terms_of_service.coding[0].code' });
    const period = await create(body({ period: { start: '2026-02-01T00:00:00.000Z', end: '2026-01-01T00:00:00.000Z' } }));
    expect(period.body.error.invalid[0]).to.deep.include({ entry: '$.period.end' });
    const system = await create(body({ addresses: [{ coding: [{ system: 'ICD-9', code: 'E11' }] }] }));
    expect(system.body.error.invalid[0]).to.deep.include({ entry: '$.addresses[0].coding[0].system' });
  });

  it('refuses unknown or inactive patients, inactive legal entities and authors that are not the user\'s employees', async () => {
    expect((await create(body(), w.token, randomUUID())).status).to.equal(404);
    const other = await newWorld(e);
    const foreign = await create(body({ author: reference('employee', other.employeeId) }));
    expect(foreign.status).to.equal(409);
    expect(foreign.body.error.message).to.equal('Employees related to this party_id not in current MSP');
    await w.patch('patients', w.patientId, { status: 'inactive' });
    expect((await create(body())).body.error).to.deep.equal({ type: 'request_conflict', message: 'Person is not active' });
    await w.patch('legal_entities', w.legalEntityId, { status: 'CLOSED' });
    expect((await create(body())).status).to.equal(409);
  });

  it('lets the managing legal entity and approved employees read; for others the plan does not exist (404)', async () => {
    const path = `/api/patients/${w.patientId}/care_plans/${w.carePlanId}`;
    expect((await http(e, 'GET', path, w.token)).status).to.equal(200);
    const other = await newWorld(e);
    const outsider = await e.token('care_plan:read', { sub: other.userId, clientId: other.legalEntityId });
    const denied = await http(e, 'GET', path, outsider);
    expect(denied.status).to.equal(404);
    expect(denied.body.error).to.deep.equal({ type: 'not_found', message: 'Care plan with such id is not found' });
    expect((await http(e, 'GET', `${path}/activities`, outsider)).status).to.equal(404);
    expect((await http(e, 'GET', `/api/patients/${w.patientId}/care_plans`, outsider)).body.data).to.deep.equal([]);
    await e.ctx.registries.upsertMany('approvals', [
      { id: randomUUID(), patient_id: w.patientId, granted_to: other.employeeId, granted_resources: [{ resource_type: 'care_plan', id: w.carePlanId }], access_level: 'read', status: 'active' },
    ], 'test');
    expect((await http(e, 'GET', path, outsider)).status).to.equal(200);
    const list = await http(e, 'GET', `/api/patients/${w.patientId}/care_plans?status=new`, outsider);
    expect(list.body.data.map((p: { id: string }) => p.id)).to.deep.equal([w.carePlanId]);
    expect((await http(e, 'GET', `/api/patients/${w.patientId}/care_plans/${randomUUID()}`, w.token)).status).to.equal(404);
  });

  it('validates list filters (422) and needs care_plan:read', async () => {
    const bad = await http(e, 'GET', `${w.activitiesPath()}?kind=diet&page_size=1000`, w.token);
    expect(bad.status).to.equal(422);
    expect(bad.body.error.invalid.map((i: { entry: string }) => i.entry)).to.have.members(['$.kind', '$.page_size']);
    const noRead = await e.token('care_plan:write', { sub: w.userId, clientId: w.legalEntityId });
    const res = await http(e, 'GET', w.activitiesPath(), noRead);
    expect(res.status).to.equal(403);
    expect(res.body.error.message).to.equal('Your scope does not allow to access this resource. Missing allowances: care_plan:read');
  });

  it('is described in /api/openapi.json (care plan and registry routes, schemas that compile)', async () => {
    const doc = (await (await fetch(`${e.url}/api/openapi.json`)).json()) as any;
    for (const p of [
      '/api/patients/{patient_id}/care_plans',
      '/api/patients/{patient_id}/care_plans/{care_plan_id}/activities',
      '/api/patients/{patient_id}/care_plans/{care_plan_id}/activities/{id}',
      '/api/registries/{name}/{id}',
    ]) {
      expect(doc.paths, p).to.have.property(p);
    }
    const ajv = new Ajv2020({ strict: false, logger: false });
    for (const name of ['CarePlanActivitySignedContent', 'CarePlanCreate', 'SignedDataRequest', 'Registry_medications']) {
      expect(() => ajv.compile(doc.components.schemas[name]), name).to.not.throw();
    }
    const validate = ajv.compile(doc.components.schemas.CarePlanActivitySignedContent);
    expect(validate(w.activity())).to.equal(true);
  });
});
