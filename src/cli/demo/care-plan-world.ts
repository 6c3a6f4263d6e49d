/**
 * What a first signed care plan activity needs, as data: the registry records of one demo legal entity (legal entity,
 * a party whose `users` hold the token's `sub` and whose tax id the signer's certificate carries, an employee of the
 * legal entity, a patient, a medication as INNM_DOSAGE and as BRAND, a medical program, its program_medications row
 * pointing at the BRAND while the activity names the INNM_DOSAGE, a service and a service group with their
 * program_services rows, the patient's condition and clinical impression), the care plan body, the approval the
 * plan's author needs even for their own plan, and the activity.
 */
import { randomUUID } from 'node:crypto';
import type { RegistryName } from '../../registries/types.js';

const DEMO_ICD10 = 'eHealth/ICD10_AM/condition_codes';
const DEMO_CONDITION_CODE = 'E11.90';
export const DEMO_SCOPES = 'care_plan:write care_plan:read job:read';

export interface DemoIds {
  legalEntityId: string;
  userId: string;
  partyId: string;
  employeeId: string;
  patientId: string;
  innmDosageId: string;
  brandId: string;
  programId: string;
  programMedicationId: string;
  serviceId: string;
  serviceGroupId: string;
  conditionId: string;
  clinicalImpressionId: string;
}

export function newDemoIds(legalEntityId: string = randomUUID()): DemoIds {
  return {
    legalEntityId,
    userId: `demo-user-${randomUUID().slice(0, 8)}`,
    partyId: randomUUID(),
    employeeId: randomUUID(),
    patientId: randomUUID(),
    innmDosageId: randomUUID(),
    brandId: randomUUID(),
    programId: randomUUID(),
    programMedicationId: randomUUID(),
    serviceId: randomUUID(),
    serviceGroupId: randomUUID(),
    conditionId: randomUUID(),
    clinicalImpressionId: randomUUID(),
  };
}

const ehealthReference = (code: string, value: string) => ({
  identifier: { type: { coding: [{ system: 'eHealth/resources', code }] }, value },
});

/** The registry records, as a `{"<registry>": [...]}` bundle that `registries load` reads. */
export function demoRegistryRecords(ids: DemoIds, taxId: string, organisation: string): Partial<Record<RegistryName, Record<string, unknown>[]>> {
  const dosage = { numerator_unit: 'MG', numerator_value: 500, denumerator_unit: 'PILL', denumerator_value: 1 };
  return {
    legal_entities: [{ id: ids.legalEntityId, name: organisation, type: 'PRIMARY_CARE', status: 'ACTIVE' }],
    parties: [{ id: ids.partyId, tax_id: taxId, users: [ids.userId], verification_status: 'VERIFIED' }],
    employees: [
      {
        id: ids.employeeId,
        party_id: ids.partyId,
        legal_entity_id: ids.legalEntityId,
        employee_type: 'DOCTOR',
        status: 'APPROVED',
        is_active: true,
        speciality: { speciality: 'THERAPIST', speciality_officio: true },
      },
    ],
    patients: [{ id: ids.patientId, status: 'active' }],
    medications: [
      { id: ids.innmDosageId, name: 'Metformin 500 mg', type: 'INNM_DOSAGE', form: 'TABLET', is_active: true, ingredients: [{ id: randomUUID(), is_primary: true, dosage }] },
      { id: ids.brandId, name: 'Siofor', type: 'BRAND', form: 'TABLET', is_active: true, ingredients: [{ id: ids.innmDosageId, is_primary: true, dosage }] },
    ],
    medical_programs: [
      {
        id: ids.programId,
        name: 'Affordable medicines',
        is_active: true,
        medical_program_settings: {
          speciality_types_allowed: ['THERAPIST', 'FAMILY_DOCTOR'],
          conditions_icd10_am_allowed: [DEMO_CONDITION_CODE],
          providing_conditions_allowed: ['OUTPATIENT'],
        },
      },
    ],
    program_medications: [
      { id: ids.programMedicationId, medical_program_id: ids.programId, medication_id: ids.brandId, is_active: true, care_plan_activity_allowed: true },
    ],
    services: [{ id: ids.serviceId, name: 'Blood glucose test', code: 'BG1', is_active: true }],
    service_groups: [{ id: ids.serviceGroupId, name: 'Laboratory', code: 'LAB', is_active: true }],
    program_services: [
      { id: randomUUID(), medical_program_id: ids.programId, service_id: ids.serviceId, is_active: true },
      { id: randomUUID(), medical_program_id: ids.programId, service_group_id: ids.serviceGroupId, is_active: true },
    ],
    conditions: [{ id: ids.conditionId, patient_id: ids.patientId, code: { coding: [{ system: DEMO_ICD10, code: DEMO_CONDITION_CODE }] } }],
    clinical_impressions: [
      { id: ids.clinicalImpressionId, patient_id: ids.patientId, code: { coding: [{ system: 'eHealth/clinical_impression_patient_categories', code: 'insulin_1' }] } },
    ],
  };
}

/** The body of POST /api/patients/{patient}/care_plans: a diabetes plan running from ten days ago for ninety days. */
export function demoCarePlanBody(ids: DemoIds, now = Date.now()) {
  return {
    category: { coding: [{ system: 'eHealth/care_plan_categories', code: 'diabetics' }] },
    title: 'Diabetes care plan',
    period: { start: new Date(now - 10 * 86_400_000).toISOString(), end: new Date(now + 90 * 86_400_000).toISOString() },
    intent: 'order',
    addresses: [{ coding: [{ system: DEMO_ICD10, code: DEMO_CONDITION_CODE }] }],
    author: ehealthReference('employee', ids.employeeId),
    terms_of_service: { coding: [{ system: 'PROVIDING_CONDITION', code: 'OUTPATIENT' }] },
  };
}

/** The write approval of the plan for its author (the activity rules ask for one even for the plan's own author). */
export function demoApproval(ids: DemoIds, carePlanId: string) {
  return {
    id: randomUUID(),
    patient_id: ids.patientId,
    granted_to: ids.employeeId,
    granted_resources: [{ resource_type: 'care_plan', id: carePlanId }],
    access_level: 'write',
    status: 'active',
  };
}

/** The content to sign: a medication_request naming the INNM_DOSAGE, within the program, for the next twenty days. */
export function demoActivity(ids: DemoIds, carePlanId: string, now = Date.now()) {
  return {
    id: randomUUID(),
    author: ehealthReference('employee', ids.employeeId),
    care_plan: ehealthReference('care_plan', carePlanId),
    detail: {
      kind: 'medication_request',
      product_reference: ehealthReference('medication', ids.innmDosageId),
      reason_code: [{ coding: [{ system: DEMO_ICD10, code: DEMO_CONDITION_CODE }] }],
      reason_reference: [ehealthReference('condition', ids.conditionId)],
      goal: [{ coding: [{ system: 'eHealth/care_plan_activity_goals', code: 'diabetes_treatment' }] }],
      quantity: { value: 60, system: 'MEDICATION_UNIT', code: 'PILL' },
      daily_amount: { value: 2, system: 'MEDICATION_UNIT', code: 'PILL' },
      scheduled_period: { start: new Date(now).toISOString(), end: new Date(now + 20 * 86_400_000).toISOString() },
      description: 'Metformin twice a day',
      do_not_perform: false,
      program: ehealthReference('medical_program', ids.programId),
      status: 'scheduled',
    },
  };
}
