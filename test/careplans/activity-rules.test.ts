/**
 * Inside the job: every rule of activity-rules.ts, driven over HTTP with CMS signatures made by openssl. The POST
 * answers 202; the final job state (GET /api/jobs/:id, HTTP 200, status failed) carries the exact status code and
 * error of the rule.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { TestEngine } from '../support/harness.js';
import { verifySignedData } from '../../src/lib/signature/index.js';
import { activityRules } from '../../src/careplans/activity-rules.js';
import { sign, signDer, testPki } from './pki.js';
import { ICD10, ICPC2, http, newWorld, reference, startCarePlanEngine, type HttpResult, type World } from './support.js';

const VALIDATION_MESSAGE = /^Validation failed: every problem is listed in "invalid"; the rules are described in docs\/errors\.md\.$/;

function expectFailed(job: HttpResult, statusCode: number): any {
  expect(job.status, JSON.stringify(job.body)).to.equal(200);
  expect(job.body.data.status, JSON.stringify(job.body.data)).to.equal('failed');
  expect(job.body.data.status_code).to.equal(statusCode);
  return job.body.data.error;
}

/** A 422 validation_failed whose entry at `entry` has a rule with `description` (and `rule` when given). */
function expectInvalid(job: HttpResult, entry: string, description: string, rule = 'invalid'): void {
  const error = expectFailed(job, 422);
  expect(error.type).to.equal('validation_failed');
  expect(error.message).to.match(VALIDATION_MESSAGE);
  const found = error.invalid.find((i: { entry: string }) => i.entry === entry);
  expect(found, `no entry ${entry} in ${JSON.stringify(error.invalid)}`).to.not.equal(undefined);
  expect(found.entry_type).to.equal('json_data_property');
  expect(found.rules.map((r: { rule: string; description: string }) => [r.rule, r.description])).to.deep.include([rule, description]);
}

function expectConflict(job: HttpResult, message: string): void {
  expect(expectFailed(job, 409)).to.deep.equal({ type: 'request_conflict', message });
}

describe('care plan activities: rules inside the job', function () {
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

  const runSigned = async (signedData: string, carePlanId = w.carePlanId) => {
    const post = await w.postSigned(signedData, carePlanId);
    expect(post.status, JSON.stringify(post.body)).to.equal(202);
    return w.waitJob(post.body.data.links[0].href);
  };
  const run = async (mutate?: (a: any) => void) => (await w.run(w.activity(mutate))).job;

  it('keeps the rules as one ordered, named list that follows the source spec', () => {
    const names = activityRules.map((r) => r.name);
    const spec = [
      'medication_request: quantity.code is the denumerator_unit of a primary INNM of the INNM_DOSAGE',
      'other kinds: quantity.system is not present',
      'other kinds: quantity.code is not present',
      'program exists and is active',
      'medication: a brand of it is an active member of the program',
      'medication: care_plan_activity_allowed for the program medication',
      'service: an active member of the program',
      'service group: an active member of the program',
      "program setting speciality_types_allowed: the author's speciality",
      "program settings conditions_icd10_am_allowed / conditions_icpc2_allowed: the care plan's addresses",
      "program setting providing_conditions_allowed: the care plan's terms_of_service",
      'program setting patient_categories_allowed: a referenced clinical impression has an allowed category',
      'reason references exist and belong to the patient',
      'do_not_perform is false',
    ];
    const positions = spec.map((n) => names.indexOf(n));
    expect(positions).to.not.include(-1);
    expect([...positions].sort((a, b) => a - b)).to.deep.equal(positions);
    expect(names.indexOf('exactly one signer')).to.be.lessThan(names.indexOf('signed content matches the Care_plan_activity schema'));
  });

  // ---- signature ----

  it('422 "Invalid signed content" when signed_data is not base64 or not CMS', async () => {
    expectInvalid(await runSigned('this is not base64!'), '$.signed_data', 'Invalid signed content');
    expectInvalid(await runSigned(Buffer.from('{"not":"cms"}').toString('base64')), '$.signed_data', 'Invalid signed content');
  });

  it('422 when the document has two signers', async () => {
    const pki = await testPki();
    const signed = await sign(w.activity(), pki.doctor, pki.stranger);
    expectInvalid(await runSigned(signed), '$.signed_data', 'document must be signed by 1 signer but contains 2 signatures');
  });

  it('422 with the verifier\'s message for an untrusted signer and for tampered content', async () => {
    const pki = await testPki();
    const untrusted = await signDer(JSON.stringify(w.activity()), pki.untrusted);
    const verdict = await verifySignedData(untrusted, { trust: e.ctx.signatureTrust });
    expect(verdict.valid).to.equal(false);
    const message = (verdict as { message: string }).message;
    expect(message).to.be.a('string').and.not.equal('');
    expectInvalid(await runSigned(untrusted.toString('base64')), '$.signed_data', message);

    const content = JSON.stringify(w.activity());
    const der = await signDer(content, w.signer);
    const at = der.indexOf(Buffer.from('Metformin twice a day'));
    expect(at).to.be.greaterThan(0);
    der[at] = 'N'.charCodeAt(0);
    const tampered = await verifySignedData(der, { trust: e.ctx.signatureTrust });
    expect(tampered.valid).to.equal(false);
    expectInvalid(await runSigned(der.toString('base64')), '$.signed_data', (tampered as { message: string }).message);
  });

  it('422 "Malformed encoded content" when the signed content is not a JSON object', async () => {
    const signed = await sign('definitely { not json', w.signer);
    expectInvalid(await runSigned(signed), '$.signed_data', 'Malformed encoded content. Probably, you have encoded corrupted JSON.');
  });

  it('409 "Invalid drfo" when the certificate carries no DRFO', async () => {
    const pki = await testPki();
    expectConflict((await w.run(w.activity(), { signers: [pki.noDrfo] })).job, 'Invalid drfo');
  });

  it("409 \"Does not match the signer drfo\" when the DRFO is not the user's party tax_id", async () => {
    const pki = await testPki();
    expectConflict((await w.run(w.activity(), { signers: [pki.stranger] })).job, 'Does not match the signer drfo');
  });

  it('accepts a DRFO written in Latin letters for a Cyrillic tax_id, and the TINUA- form', async () => {
    const p = await newWorld(e, { taxId: 'МЕ 123456', signer: 'passport' });
    expect((await p.run(p.activity())).job.status).to.equal(303);
    const t = await newWorld(e, { taxId: '2233445566', signer: 'tinua' });
    expect((await t.run(t.activity())).job.status).to.equal(303);
  });

  // ---- signed content ----

  it('422 validation_failed when the content does not match the Care_plan_activity schema', async () => {
    expectInvalid(await run((a) => delete a.detail.do_not_perform), '$.detail.do_not_perform', 'required property do_not_perform was not present', 'required');
    expectInvalid(await run((a) => (a.detail.kind = 'diet')), '$.detail.kind', 'value is not allowed in enum', 'inclusion');
    expectInvalid(await run((a) => (a.detail.unknown = 1)), '$.detail.unknown', 'schema does not allow additional properties', 'schema');
    expectInvalid(await run((a) => (a.id = 'not-a-uuid')), '$.id', 'expected "not-a-uuid" to be a valid uuid', 'format');
  });

  it('422 when quantity.value is empty, not an integer or not greater than zero', async () => {
    expectInvalid(await run((a) => delete a.detail.quantity.value), '$.detail.quantity.value', 'required property value was not present', 'required');
    expectInvalid(await run((a) => (a.detail.quantity.value = 1.5)), '$.detail.quantity.value', 'type mismatch. Expected Integer but got Number', 'cast');
    expectInvalid(await run((a) => (a.detail.quantity.value = 0)), '$.detail.quantity.value', 'expected the value to be > 0', 'number');
  });

  it("422 'value is not allowed in enum' when a medication_request quantity.system is not MEDICATION_UNIT", async () => {
    expectInvalid(await run((a) => (a.detail.quantity.system = 'SERVICE_UNIT')), '$.detail.quantity.system', 'value is not allowed in enum', 'inclusion');
    expectInvalid(await run((a) => delete a.detail.quantity.system), '$.detail.quantity.system', 'required property system was not present', 'required');
  });

  it('422 when a MEDICATION_UNIT code is not in the dictionary', async () => {
    expectInvalid(await run((a) => (a.detail.quantity.code = 'BUCKET')), '$.detail.quantity.code', 'value is not allowed in enum', 'inclusion');
    expectInvalid(await run((a) => (a.detail.daily_amount.code = 'BUCKET')), '$.detail.daily_amount.code', 'value is not allowed in enum', 'inclusion');
  });

  it('422 when a reason code is not in its dictionary', async () => {
    expectInvalid(await run((a) => (a.detail.reason_code[0].coding[0].code = 'ZZZ.99')), '$.detail.reason_code[0].coding[0].code', 'value is not allowed in enum', 'inclusion');
  });

  it('422 when the care plan of the signed content is not the one of the URL', async () => {
    const other = randomUUID();
    expectInvalid(await run((a) => (a.care_plan = reference('care_plan', other))), '$.care_plan.identifier.value', 'Care plan in signed content does not match care_plan_id in the URL');
  });

  it('422 when the activity id is already used', async () => {
    const first = w.activity();
    expect((await w.run(first)).job.status).to.equal(303);
    expectInvalid(await run((a) => (a.id = first.id)), '$.id', 'Care plan activity with such id already exists');
  });

  it("409 when the author is not the user's active employee in the legal entity", async () => {
    const stranger = randomUUID();
    await w.put('employees', [{ id: stranger, party_id: randomUUID(), legal_entity_id: w.legalEntityId, employee_type: 'DOCTOR', status: 'APPROVED', is_active: true }]);
    expectConflict(await run((a) => (a.author = reference('employee', stranger))), 'Employees related to this party_id not in current MSP');
    const other = await newWorld(e);
    expectConflict(await run((a) => (a.author = reference('employee', other.employeeId))), 'Employees related to this party_id not in current MSP');
  });

  it('409 when the author is the user\'s employee but no longer active', async () => {
    const second = randomUUID();
    await w.put('employees', [{ id: second, party_id: w.partyId, legal_entity_id: w.legalEntityId, employee_type: 'DOCTOR', status: 'DISMISSED', is_active: false }]);
    expectConflict(await run((a) => (a.author = reference('employee', second))), 'Employees related to this party_id not in current MSP');
  });

  // ---- detail: product and quantity ----

  it('422 when the product does not exist or is inactive', async () => {
    expectInvalid(await run((a) => (a.detail.product_reference.identifier.value = randomUUID())), '$.detail.product_reference.identifier.value', 'Medication with such ID is not found');
    expectInvalid(await run((a) => (a.detail.product_reference.identifier.value = w.brandId)), '$.detail.product_reference.identifier.value', 'Medication with such ID is not found');
    const service = (a: any, id: string, code = 'service') => {
      a.detail.kind = 'service_request';
      a.detail.product_reference = reference(code, id);
      a.detail.quantity = { value: 1 };
      delete a.detail.daily_amount;
    };
    expectInvalid(await run((a) => service(a, randomUUID())), '$.detail.product_reference.identifier.value', 'Service with such ID is not found');
    await w.patch('service_groups', w.serviceGroupId, { is_active: false });
    expectInvalid(await run((a) => service(a, w.serviceGroupId, 'service_group')), '$.detail.product_reference.identifier.value', 'Service group with such ID is not found');
  });

  it("422 when a medication_request's quantity.code is not the denumerator_unit of a primary INNM", async () => {
    expectInvalid(await run((a) => (a.detail.quantity.code = 'MG')), '$.detail.quantity.code', 'Code field of quantity object should be equal to denumerator_unit of one of medication’s innms');
  });

  it('422 when another kind carries quantity.system or quantity.code', async () => {
    const service = (a: any, quantity: object) => {
      a.detail.kind = 'service_request';
      a.detail.product_reference = reference('service', w.serviceId);
      a.detail.quantity = quantity;
      delete a.detail.daily_amount;
    };
    expectInvalid(await run((a) => service(a, { value: 2, system: 'SERVICE_UNIT', code: 'PROCEDURE' })), '$.detail.quantity.system', 'System field of quantity object is not allowed for kind other than medication_request');
    expectInvalid(await run((a) => service(a, { value: 2, code: 'PROCEDURE' })), '$.detail.quantity.code', 'Code field of quantity object is not allowed for kind other than medication_request');
  });

  // ---- detail: program ----

  it('404 "Program not found" when the program is unknown or inactive', async () => {
    expect(expectFailed(await run((a) => (a.detail.program = reference('medical_program', randomUUID()))), 404)).to.deep.equal({ type: 'not_found', message: 'Program not found' });
    await w.patch('medical_programs', w.programId, { is_active: false });
    expect(expectFailed(await run(), 404)).to.deep.equal({ type: 'not_found', message: 'Program not found' });
  });

  it('422 "Medication is not included in the program" without an active program medication of a brand', async () => {
    await w.patch('program_medications', w.programMedicationId, { is_active: false });
    expectInvalid(await run(), '$.detail.product_reference.identifier.value', 'Medication is not included in the program');
    await w.patch('program_medications', w.programMedicationId, { is_active: true });
    await w.patch('medications', w.brandId, { is_active: false });
    expectInvalid(await run(), '$.detail.product_reference.identifier.value', 'Medication is not included in the program');
  });

  it('422 "Forbidden to create care plan activity for this medication!" when care_plan_activity_allowed is false', async () => {
    await w.patch('program_medications', w.programMedicationId, { care_plan_activity_allowed: false });
    expectInvalid(await run(), '$.detail.product_reference.identifier.value', 'Forbidden to create care plan activity for this medication!');
  });

  it('422 when a service or service group is not an active member of the program', async () => {
    const rows = await e.ctx.registries.find('program_services', { medical_program_id: w.programId });
    for (const r of rows) await w.patch('program_services', r.id, { is_active: false });
    const service = (a: any, code: string, id: string) => {
      a.detail.kind = 'service_request';
      a.detail.product_reference = reference(code, id);
      a.detail.quantity = { value: 1 };
      delete a.detail.daily_amount;
    };
    expectInvalid(await run((a) => service(a, 'service', w.serviceId)), '$.detail.product_reference.identifier.value', 'Service is not included in the program');
    expectInvalid(await run((a) => service(a, 'service_group', w.serviceGroupId)), '$.detail.product_reference.identifier.value', 'Service group is not included in the program');
  });

  it("422 when the author's speciality is not in speciality_types_allowed", async () => {
    await w.patch('employees', w.employeeId, { speciality: { speciality: 'PEDIATRICIAN', speciality_officio: true } });
    expectInvalid(await run(), '$.detail.program.identifier.value', 'Author’s specialty doesn\'t allow to create activity with medical program from request');
  });

  it("422 when the care plan's diagnoses are not in conditions_icd10_am_allowed / conditions_icpc2_allowed", async () => {
    const settings = (s: object) => w.patch('medical_programs', w.programId, { medical_program_settings: s });
    await settings({ conditions_icd10_am_allowed: ['E10.90'] });
    expectInvalid(await run(), '$.detail.program.identifier.value', 'Care plan diagnosis is not allowed for the medical program');
    // An ICPC2 diagnosis allowed by conditions_icpc2_allowed passes.
    await settings({ conditions_icd10_am_allowed: ['E10.90'], conditions_icpc2_allowed: ['T90'] });
    const icpcPlan = await w.createCarePlan({ addresses: [{ system: ICPC2, code: 'T90' }] });
    const ok = await w.run(w.activity(undefined, icpcPlan), { carePlanId: icpcPlan });
    expect(ok.job.status).to.equal(303);
  });

  it("422 when the care plan's terms_of_service are not in providing_conditions_allowed", async () => {
    await w.patch('medical_programs', w.programId, { medical_program_settings: { providing_conditions_allowed: ['INPATIENT'] } });
    expectInvalid(await run(), '$.detail.program.identifier.value', 'Care plan’s terms of service are not allowed for the medical program');
  });

  it('422 when patient_categories_allowed is set and no referenced clinical impression has such a category', async () => {
    await w.patch('medical_programs', w.programId, { medical_program_settings: { patient_categories_allowed: ['insulin_1'] } });
    expectInvalid(await run(), '$.detail.reason_reference', 'Clinical impression with patient category should be present in request for this medical program');
    const ok = await w.run(w.activity((a) => a.detail.reason_reference.push(reference('clinical_impression', w.clinicalImpressionId))));
    expect(ok.job.status).to.equal(303);
  });

  // ---- detail: reason references, do_not_perform ----

  it('422 when a reason reference does not exist or belongs to another patient', async () => {
    expectInvalid(await run((a) => (a.detail.reason_reference = [reference('condition', randomUUID())])), '$.detail.reason_reference[0].identifier.value', 'Condition with such ID is not found');
    const other = await newWorld(e);
    expectInvalid(
      await run((a) => (a.detail.reason_reference = [reference('condition', w.conditionId), reference('clinical_impression', other.clinicalImpressionId)])),
      '$.detail.reason_reference[1].identifier.value',
      'Clinical impression with such ID is not found',
    );
    expectInvalid(await run((a) => (a.detail.reason_reference = [reference('observation', randomUUID())])), '$.detail.reason_reference[0].identifier.value', 'Observation with such ID is not found');
    expectInvalid(await run((a) => (a.detail.reason_reference = [reference('encounter', randomUUID())])), '$.detail.reason_reference[0].identifier.type.coding[0].code', 'value is not allowed in enum', 'inclusion');
  });

  it('422 when do_not_perform is true', async () => {
    expectInvalid(await run((a) => (a.detail.do_not_perform = true)), '$.detail.do_not_perform', 'Care plan activity with do_not_perform = true can not be created');
  });

  // ---- order ----

  it('reports the first failing rule in order (signature before content, quantity before program)', async () => {
    const pki = await testPki();
    expectConflict((await w.run(w.activity((a) => delete a.detail.kind), { signers: [pki.stranger] })).job, 'Does not match the signer drfo');
    expectInvalid(
      await run((a) => {
        a.detail.quantity.code = 'MG';
        a.detail.program = reference('medical_program', randomUUID());
      }),
      '$.detail.quantity.code',
      'Code field of quantity object should be equal to denumerator_unit of one of medication’s innms',
    );
  });

  it('keeps the job failed with status 500 "Failed to save signed content" when media storage keeps failing', async function () {
    this.timeout(60_000);
    const media = e.ctx.media;
    e.ctx.media = { put: async () => Promise.reject(new Error('disk full')), get: media.get.bind(media), delete: media.delete.bind(media) };
    try {
      const job = await (async () => {
        const post = await w.post(w.activity());
        return w.waitJob(post.body.data.links[0].href, 45_000);
      })();
      expect(expectFailed(job, 500)).to.deep.equal({ type: 'internal_error', message: 'Failed to save signed content' });
    } finally {
      e.ctx.media = media;
    }
    expect(await e.ctx.database.db.collection('care_plan_activities').countDocuments({ care_plan_id: w.carePlanId })).to.equal(0);
  });

  it('GET /api/jobs/:id of an unknown job is 404', async () => {
    const res = await http(e, 'GET', '/api/jobs/0123456789abcdef01234567', w.token);
    expect(res.status).to.equal(404);
  });
});
