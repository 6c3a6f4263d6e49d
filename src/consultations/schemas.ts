/**
 * JSON Schemas of the consultation API bodies: used to validate requests (ajv) and in the OpenAPI fragment.
 */
import { OUTCOMES } from './states.js';

const FHIR_ID_PATTERN = '^[A-Za-z0-9\\-.]{1,64}$';

export const createConsultationSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['service_request_id'],
  properties: {
    service_request_id: { type: 'string', pattern: FHIR_ID_PATTERN, description: 'Id of the referral ServiceRequest' },
    organization_id: {
      type: 'string',
      pattern: FHIR_ID_PATTERN,
      description: 'Insurer/partner organization the consultation is served for (default: taken from the referral)',
    },
  },
} as const;

export const assignSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['practitioner_id'],
  properties: { practitioner_id: { type: 'string', pattern: FHIR_ID_PATTERN } },
} as const;

export const cancelSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500, description: 'Why the consultation is cancelled' } },
} as const;

export const finishSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['icpc2', 'outcome'],
  description: 'The consultation result. Every field is stored encrypted (AES-256-GCM).',
  properties: {
    icpc2: { type: 'string', minLength: 2, maxLength: 10, description: 'ICPC-2 code, validated against the ICPC2 dictionary (e.g. R74)' },
    outcome: { type: 'string', enum: [...OUTCOMES] },
    patient_national_id: {
      type: ['string', 'null'],
      pattern: '^[0-9]{11}$',
      description: 'National id (fødselsnummer / D-number) of the patient when different from the user (a minor)',
    },
    patient_job_description: { type: ['string', 'null'], maxLength: 500 },
    author_practitioner_id: { type: 'string', pattern: FHIR_ID_PATTERN, description: 'Default: the finishing practitioner' },
    notes: { type: ['string', 'null'], maxLength: 10_000 },
    policy_number: { type: ['string', 'null'], pattern: '^[A-Za-z0-9][A-Za-z0-9/-]{0,63}$', description: 'Insurance policy number' },
  },
} as const;

export const reportRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'to'],
  properties: {
    from: { type: 'string', description: 'First day (YYYY-MM-DD, UTC) or instant (ISO 8601) of the range, inclusive' },
    to: { type: 'string', description: 'Last day (YYYY-MM-DD, UTC, inclusive) or instant (ISO 8601, exclusive)' },
    organization_id: { type: 'string', pattern: FHIR_ID_PATTERN },
  },
} as const;
