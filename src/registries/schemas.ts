/**
 * JSON Schemas (ajv) of the registry records the care plan rules read. Shapes follow the eHealth data model (the
 * eHealth API Blueprint's data structures; ehealth-ua's JSON Schemas of medications and programs), reduced to what
 * the engine uses plus common descriptive fields. Unknown properties are rejected so that typos in loaded data are
 * caught.
 */
import { AMOUNT_PATTERN, CURRENCIES, PERCENT_PATTERN } from '../lib/money.js';

const id = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' } as const;
const code = { type: 'string', minLength: 1, maxLength: 100 } as const;
const text = { type: 'string', maxLength: 1000 } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const date = { type: 'string', format: 'date' } as const;

const coding = {
  type: 'object',
  properties: { system: code, code, display: text },
  required: ['system', 'code'],
  additionalProperties: false,
} as const;

export const codeableConcept = {
  type: 'object',
  properties: { coding: { type: 'array', minItems: 1, items: coding }, text },
  required: ['coding'],
  additionalProperties: false,
} as const;

const dosage = {
  type: 'object',
  properties: {
    numerator_unit: code,
    numerator_value: { type: 'number', exclusiveMinimum: 0 },
    denumerator_unit: code,
    denumerator_value: { type: 'number', exclusiveMinimum: 0 },
  },
  required: ['numerator_unit', 'numerator_value', 'denumerator_unit', 'denumerator_value'],
  additionalProperties: false,
} as const;

function record(properties: Record<string, unknown>, required: string[], extra: Record<string, unknown> = {}) {
  return { type: 'object', properties: { id, ...properties }, required: ['id', ...required], additionalProperties: false, ...extra };
}

export const legalEntitySchema = record(
  {
    name: text,
    short_name: text,
    edrpou: { type: 'string', pattern: '^[0-9]{8,10}$' },
    type: { type: 'string', pattern: '^[A-Z_]{2,50}$' },
    status: { enum: ['ACTIVE', 'SUSPENDED', 'CLOSED', 'REORGANIZED'] },
    nhs_verified: { type: 'boolean' },
  },
  ['type', 'status'],
);

export const partySchema = record(
  {
    tax_id: { type: 'string', minLength: 1, maxLength: 20 },
    no_tax_id: { type: 'boolean' },
    verification_status: { enum: ['VERIFIED', 'NOT_VERIFIED', 'VERIFICATION_NEEDED'] },
    verification_updated_at: dateTime,
    users: { type: 'array', items: id, uniqueItems: true },
    first_name: text,
    last_name: text,
    second_name: text,
  },
  ['tax_id', 'users'],
);

export const employeeSchema = record(
  {
    party_id: id,
    legal_entity_id: id,
    division_id: id,
    employee_type: { type: 'string', pattern: '^[A-Z_ ]{2,50}$' },
    position: code,
    status: { enum: ['NEW', 'APPROVED', 'DISMISSED'] },
    is_active: { type: 'boolean' },
    start_date: date,
    end_date: date,
    speciality: {
      type: 'object',
      properties: {
        speciality: code,
        speciality_officio: { type: 'boolean' },
        level: code,
        qualification_type: code,
        attestation_name: text,
        attestation_date: date,
        valid_to_date: date,
        certificate_number: code,
      },
      required: ['speciality'],
      additionalProperties: false,
    },
  },
  ['party_id', 'legal_entity_id', 'employee_type', 'status', 'is_active'],
);

export const patientSchema = record({ status: { enum: ['active', 'inactive'] } }, ['status']);

export const medicalProgramSchema = record(
  {
    name: text,
    type: { type: 'string', pattern: '^[A-Z_]{2,50}$' },
    is_active: { type: 'boolean' },
    funding_source: code,
    mr_blank_type: code,
    medical_program_settings: {
      type: 'object',
      // The eHealth API Blueprint writes the settings keys in lowercase; upper-case keys are a loading mistake.
      propertyNames: { pattern: '^[a-z0-9_]+$' },
      properties: {
        speciality_types_allowed: { type: 'array', items: code },
        conditions_icd10_am_allowed: { type: 'array', items: code },
        conditions_icpc2_allowed: { type: 'array', items: code },
        providing_conditions_allowed: { type: 'array', items: code },
        patient_categories_allowed: { type: 'array', items: code },
      },
      additionalProperties: true,
    },
  },
  ['name', 'is_active'],
);

export const medicationSchema = record(
  {
    name: text,
    type: { enum: ['BRAND', 'INNM_DOSAGE'] },
    form: code,
    is_active: { type: 'boolean' },
    ingredients: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        properties: { id, name: text, is_primary: { type: 'boolean' }, dosage },
        required: ['id', 'is_primary', 'dosage'],
        additionalProperties: false,
      },
    },
    container: dosage,
    code_atc: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z][0-9]{2}[A-Za-z]{2}[0-9]{2}$' } },
    package_qty: { type: 'number', exclusiveMinimum: 0 },
    package_min_qty: { type: 'number', exclusiveMinimum: 0 },
    daily_dosage: { type: 'number', exclusiveMinimum: 0 },
    manufacturer: {
      type: 'object',
      properties: { name: text, country: code },
      additionalProperties: false,
    },
    certificate: code,
    certificate_expired_at: date,
  },
  ['name', 'type', 'is_active', 'ingredients'],
);

export const programMedicationSchema = record(
  {
    medical_program_id: id,
    medication_id: id,
    is_active: { type: 'boolean' },
    medication_request_allowed: { type: 'boolean' },
    care_plan_activity_allowed: { type: 'boolean' },
    start_date: date,
    end_date: date,
  },
  ['medical_program_id', 'medication_id', 'is_active', 'care_plan_activity_allowed'],
);

export const serviceSchema = record(
  {
    name: text,
    code,
    category: code,
    is_active: { type: 'boolean' },
    is_composition: { type: 'boolean' },
    request_allowed: { type: 'boolean' },
    parent_id: id,
  },
  ['name', 'code', 'is_active'],
);

export const serviceGroupSchema = record(
  {
    name: text,
    code,
    is_active: { type: 'boolean' },
    request_allowed: { type: 'boolean' },
    service_ids: { type: 'array', items: id, uniqueItems: true },
  },
  ['name', 'code', 'is_active'],
);

export const programServiceSchema = record(
  {
    medical_program_id: id,
    service_id: id,
    service_group_id: id,
    is_active: { type: 'boolean' },
    request_allowed: { type: 'boolean' },
    consumer_price: { type: 'number', minimum: 0 },
    description: text,
  },
  ['medical_program_id', 'is_active'],
  { oneOf: [{ required: ['service_id'] }, { required: ['service_group_id'] }] },
);

/** Medical events of a patient that care plan activities may cite as reasons (detail.reason_reference). */
function patientEventSchema(codeRequired: boolean) {
  return record(
    {
      patient_id: id,
      code: codeableConcept,
      status: code,
      effective_at: dateTime,
    },
    codeRequired ? ['patient_id', 'code'] : ['patient_id'],
  );
}

export const conditionSchema = patientEventSchema(true);
export const clinicalImpressionSchema = patientEventSchema(true);
export const observationSchema = patientEventSchema(false);
export const diagnosticReportSchema = patientEventSchema(false);

export const approvalSchema = record(
  {
    patient_id: id,
    granted_to: id,
    granted_resources: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        properties: { resource_type: { enum: ['care_plan', 'episode_of_care', 'diagnostic_report'] }, id },
        required: ['resource_type', 'id'],
        additionalProperties: false,
      },
    },
    access_level: { enum: ['read', 'write'] },
    status: { enum: ['new', 'active', 'expired', 'rejected', 'cancelled'] },
    expires_at: dateTime,
  },
  ['patient_id', 'granted_to', 'granted_resources', 'access_level', 'status'],
);

const amount = { type: 'string', pattern: AMOUNT_PATTERN, description: 'Decimal amount with at most two decimals, e.g. "450.00"' } as const;

/**
 * Insurer deals (per tenant): what the legal entity `tenant` charges the insurer organization for a service. A new
 * price from a date is a new deal record with a later `valid_from` (the newest valid deal wins); order lines keep the
 * terms they were priced with.
 */
export const dealSchema = record(
  {
    tenant: id,
    insurer_organization_id: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$', description: 'FHIR Organization id of the insurer (the referral partner)' },
    insurer_name: text,
    name: text,
    service: {
      type: 'object',
      properties: { code, display: text },
      required: ['code'],
      additionalProperties: false,
    },
    unit_price: amount,
    currency: { enum: [...CURRENCIES] },
    discount_rules: {
      type: 'array',
      maxItems: 10,
      items: {
        type: 'object',
        properties: {
          applies_to: { enum: ['consultation', 'follow_up', 'any'] },
          percent: { type: 'string', pattern: PERCENT_PATTERN, description: 'Percentage of the unit price, at most two decimals' },
          amount,
        },
        required: ['applies_to'],
        oneOf: [{ required: ['percent'] }, { required: ['amount'] }],
        additionalProperties: false,
      },
    },
    follow_up_covered: { type: 'boolean' },
    policy_number: { type: 'string', minLength: 1, maxLength: 64 },
    valid_from: date,
    valid_to: date,
  },
  ['tenant', 'insurer_organization_id', 'service', 'unit_price', 'currency', 'valid_from'],
);
