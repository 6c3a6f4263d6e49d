/**
 * OpenAPI 3.1 fragment of the consultations API (merged into /api/openapi.json by src/app/openapi.ts). Request
 * schemas are the ones the routes validate with (schemas.ts). Component schemas are self-contained (no $ref inside
 * them), paths reference them.
 */
import { envelope, type OpenApiFragment } from '../platform/http/openapi-fragment.js';
import { assignSchema, cancelSchema, createConsultationSchema, finishSchema, reportRequestSchema } from './schemas.js';
import { CONSULTATION_STATES, OUTCOMES } from './states.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const security = (...scopes: string[]) => [{ bearer: scopes }];
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const json = (schema: unknown) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('ConsultationError')) });

const commonErrors = {
  '401': error('Missing or invalid bearer token'),
  '403': error('Missing scope, or the consultation is assigned to another practitioner'),
  '404': error('Consultation not found'),
};
const transitionErrors = { ...commonErrors, '409': error('The action is not allowed in the current state (the message names it)') };

const nullableDate = { type: ['string', 'null'], format: 'date-time' };

const filterParams = [
  { name: 'state', in: 'query', schema: { type: 'string' }, description: `Comma-separated states: ${CONSULTATION_STATES.join(', ')}` },
  { name: 'organization_id', in: 'query', schema: { type: 'string' } },
  { name: 'practitioner_id', in: 'query', schema: { type: 'string' } },
  { name: 'date', in: 'query', schema: { type: 'string', format: 'date' }, description: 'Created on this UTC day' },
  { name: 'date_from', in: 'query', schema: { type: 'string' }, description: 'Created at or after (YYYY-MM-DD or date-time)' },
  { name: 'date_to', in: 'query', schema: { type: 'string' }, description: 'Created before the end of this day (YYYY-MM-DD) or before this date-time' },
];
const pagingParams = [
  { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1, default: 1 } },
  { name: 'page_size', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
];

function transition(summary: string, description: string, scopes: string[], requestBody?: unknown) {
  return {
    post: {
      tags: ['Consultations'],
      summary,
      description,
      security: security(...scopes),
      parameters: [idParam],
      ...(requestBody ? { requestBody: { required: true, content: json(requestBody) } } : {}),
      responses: {
        '200': { description: 'The consultation after the transition', content: json(envelope(ref('Consultation'))) },
        ...transitionErrors,
        ...(requestBody ? { '422': error('Invalid body') } : {}),
      },
    },
  };
}

const resultSchema = {
  type: 'object',
  description:
    'recorded/recorded_at for every reader; the fields (icpc2 … policy_number) only with scope consultation_result:read. ' +
    'All fields are encrypted at rest.',
  properties: {
    recorded: { type: 'boolean' },
    recorded_at: { type: 'string', format: 'date-time' },
    icpc2: { type: 'string' },
    outcome: { type: 'string', enum: [...OUTCOMES] },
    patient_national_id: { type: ['string', 'null'] },
    patient_job_description: { type: ['string', 'null'] },
    author_practitioner_id: { type: 'string' },
    notes: { type: ['string', 'null'] },
    policy_number: { type: ['string', 'null'] },
    decryption_error: { type: 'string', description: 'Present when the result cannot be decrypted (key not configured)' },
  },
};
const aggregateSchema = {
  type: 'object',
  properties: {
    count: { type: 'integer' },
    avg_seconds: { type: ['number', 'null'] },
    min_seconds: { type: ['number', 'null'] },
    max_seconds: { type: ['number', 'null'] },
    p50_seconds: { type: ['number', 'null'] },
    p90_seconds: { type: ['number', 'null'] },
  },
};

const consultationsOpenApiComponents = {
  schemas: {
    ConsultationError: {
      type: 'object',
      properties: {
        meta: { type: 'object' },
        error: {
          type: 'object',
          required: ['type', 'message'],
          properties: { type: { type: 'string' }, message: { type: 'string' }, state: { type: 'string' }, invalid: { type: 'array', items: { type: 'object' } } },
        },
      },
    },
    Consultation: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        state: { type: 'string', enum: [...CONSULTATION_STATES] },
        encounter_status: { type: 'string', enum: ['planned', 'arrived', 'in-progress', 'finished', 'cancelled'] },
        service_request_id: { type: 'string' },
        patient_id: { type: 'string' },
        encounter_id: { type: 'string' },
        organization_id: { type: ['string', 'null'] },
        practitioner_id: { type: ['string', 'null'] },
        assigned_by: { type: ['string', 'null'] },
        created_by: { type: 'string' },
        booked_by: { type: ['string', 'null'], description: 'The secretary who placed it in the queue with POST /api/consultations/bookings' },
        booked_at: nullableDate,
        created_at: { type: 'string', format: 'date-time' },
        assigned_at: nullableDate,
        starts_at: nullableDate,
        ends_at: nullableDate,
        cancelled_at: nullableDate,
        cancel_reason: { type: ['string', 'null'] },
        follow_up_of: { type: ['string', 'null'], description: 'A follow-up (rebooking): the consultation it follows' },
        metrics: {
          type: 'object',
          properties: {
            waiting_time_seconds: { type: ['number', 'null'], description: 'starts_at - created_at' },
            treatment_duration_seconds: { type: ['number', 'null'], description: 'ends_at - starts_at' },
          },
        },
        sessions: {
          type: ['object', 'null'],
          description: 'Chat/video links; shown to the assigned practitioner and supervisors only',
          properties: { chat_url: { type: 'string' }, video_url: { type: 'string' } },
        },
        patient_notified_at: nullableDate,
        status_history: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              state: { type: 'string' },
              encounter_status: { type: 'string' },
              action: { type: 'string', enum: ['create', 'pick', 'assign', 'start', 'finish', 'cancel'] },
              at: { type: 'string', format: 'date-time' },
              by: { type: 'string' },
              practitioner_id: { type: 'string' },
              reason: { type: 'string' },
            },
          },
        },
        result: { oneOf: [{ type: 'null' }, resultSchema] },
        fhir: { type: 'object', description: 'FHIR references: encounter, service_request, patient, practitioner, part_of (the Encounter a follow-up follows)' },
      },
    },
    ConsultationResult: resultSchema,
    ConsultationMetricAggregate: aggregateSchema,
    ConsultationMetricsGroup: {
      type: 'object',
      properties: {
        day: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
        organization_id: { type: ['string', 'null'] },
        consultations: { type: 'integer' },
        by_state: { type: 'object', additionalProperties: { type: 'integer' } },
        waiting_time: aggregateSchema,
        treatment_duration: aggregateSchema,
      },
    },
    ConsultationReport: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        kind: { type: 'string', enum: ['daily', 'on_demand'] },
        status: { type: 'string', enum: ['pending', 'processing', 'ready', 'failed'] },
        from: { type: 'string', format: 'date-time' },
        to: { type: 'string', format: 'date-time', description: 'exclusive' },
        organization_id: { type: ['string', 'null'] },
        row_count: { type: ['integer', 'null'] },
        job_id: { type: ['string', 'null'] },
        job_href: { type: ['string', 'null'] },
        download_href: { type: ['string', 'null'] },
        error: { type: ['string', 'null'] },
      },
    },
    CreateConsultation: createConsultationSchema,
    AssignConsultation: assignSchema,
    CancelConsultation: cancelSchema,
    FinishConsultation: finishSchema,
    ConsultationReportRequest: reportRequestSchema,
  },
};

const consultationsOpenApiPaths: Record<string, Record<string, unknown>> = {
  '/api/consultations': {
    get: {
      tags: ['Consultations'],
      summary: 'The consultation queue (oldest first)',
      security: security('consultations:read'),
      parameters: [...filterParams, ...pagingParams],
      responses: {
        '200': {
          description: 'Consultations and paging',
          content: json({ type: 'object', properties: { meta: { type: 'object' }, data: { type: 'array', items: ref('Consultation') }, paging: { type: 'object' } } }),
        },
        '401': error('Missing or invalid bearer token'),
        '403': error('Missing scope'),
        '422': error('Invalid filter'),
      },
    },
    post: {
      tags: ['Consultations'],
      summary: 'Create the consultation of a referral',
      description:
        'Creates a consultation (state ready_for_pickup, Encounter planned) for a referral ServiceRequest. One live consultation per ' +
        'referral: while one exists it is returned with 200. The patient is tagged no-marketing.',
      security: security('consultations:write'),
      requestBody: { required: true, content: json(ref('CreateConsultation')) },
      responses: {
        '201': { description: 'Created', content: json(envelope(ref('Consultation'))) },
        '200': { description: 'The live consultation of this referral already existed', content: json(envelope(ref('Consultation'))) },
        '401': error('Missing or invalid bearer token'),
        '403': error('Missing scope'),
        '409': error('The referral is revoked or entered in error'),
        '422': error('Invalid body or unknown referral'),
      },
    },
  },
  '/api/consultations/metrics': {
    get: {
      tags: ['Consultations'],
      summary: 'WAITING_TIME and TREATMENT_DURATION aggregated per UTC day (of created_at) and/or organization',
      security: security('consultations:read'),
      parameters: [
        ...filterParams.filter((p) => p.name !== 'state'),
        { name: 'group_by', in: 'query', schema: { type: 'string', default: 'day,organization' }, description: 'day, organization or day,organization' },
      ],
      responses: {
        '200': { description: 'Groups', content: json({ type: 'object', properties: { data: { type: 'array', items: ref('ConsultationMetricsGroup') } } }) },
        '422': error('Invalid filter'),
      },
    },
  },
  '/api/consultations/{id}': {
    get: {
      tags: ['Consultations'],
      summary: 'One consultation (the result decrypted only with consultation_result:read)',
      security: security('consultations:read'),
      parameters: [idParam],
      responses: { '200': { description: 'The consultation', content: json(envelope(ref('Consultation'))) }, ...commonErrors },
    },
  },
  '/api/consultations/{id}/pick': transition(
    'Pick a consultation from the queue',
    'ready_for_pickup → pending_sp, assigned to the token user (assigned_at). Of concurrent picks exactly one succeeds; the others get 409.',
    ['consultations:write'],
  ),
  '/api/consultations/{id}/assign': transition(
    'Assign (or re-assign) a practitioner',
    'ready_for_pickup or pending_sp → pending_sp (assigned_at).',
    ['consultations:supervise'],
    ref('AssignConsultation'),
  ),
  '/api/consultations/{id}/start': transition(
    'Start the consultation',
    'pending_sp → in_progress (starts_at) by the assigned practitioner; chat/video session links are created and sent to the patient.',
    ['consultations:write'],
  ),
  '/api/consultations/{id}/notify': transition('Send the session links to the patient again', 'Only while in_progress.', ['consultations:write']),
  '/api/consultations/{id}/finish': transition(
    'Finish the consultation and record its result',
    'in_progress → completed (ends_at) by the assigned practitioner. The ICPC-2 code is validated against the ICPC2 dictionary. ' +
      'Every result field is encrypted at rest.',
    ['consultations:write'],
    ref('FinishConsultation'),
  ),
  '/api/consultations/{id}/cancel': transition(
    'Cancel the consultation',
    'Any state before completed → cancelled, with a reason. consultations:write may cancel consultations assigned to the token user; ' +
      'consultations:supervise any.',
    ['consultations:write'],
    ref('CancelConsultation'),
  ),
  '/api/consultations/{id}/rebook': {
    post: {
      tags: ['Consultations'],
      summary: 'Book a follow-up (rebooking)',
      description:
        'A new consultation for the same referral and patient, in the queue (ready_for_pickup), whose Encounter is partOf the Encounter ' +
        'of this one (in_progress or completed). Only its practitioner or a supervisor. It gets its own order line when the deal ' +
        'covers follow-ups. Idempotent: while a follow-up of this consultation is live it is returned with 200.',
      security: security('consultations:write'),
      parameters: [idParam],
      responses: {
        '201': { description: 'The follow-up consultation', content: json(envelope(ref('Consultation'))) },
        '200': { description: 'The live follow-up booked before', content: json(envelope(ref('Consultation'))) },
        ...transitionErrors,
      },
    },
  },
  '/api/consultations/reports': {
    post: {
      tags: ['Consultations'],
      summary: 'Request the insurer report (XLSX) for a date range',
      description: 'Completed consultations with ends_at in [from, to). Runs as a job; poll GET /api/jobs/{job id}.',
      security: security('consultation_result:read'),
      requestBody: { required: true, content: json(ref('ConsultationReportRequest')) },
      responses: {
        '202': { description: 'Accepted; the job is queued', content: json(envelope(ref('ConsultationReport'))) },
        '422': error('Invalid range'),
      },
    },
    get: {
      tags: ['Consultations'],
      summary: 'Insurer reports (newest first)',
      security: security('consultation_result:read'),
      parameters: pagingParams,
      responses: { '200': { description: 'Reports', content: json({ type: 'object', properties: { data: { type: 'array', items: ref('ConsultationReport') } } }) } },
    },
  },
  '/api/consultations/reports/{id}': {
    get: {
      tags: ['Consultations'],
      summary: 'One insurer report',
      security: security('consultation_result:read'),
      parameters: [idParam],
      responses: { '200': { description: 'The report', content: json(envelope(ref('ConsultationReport'))) }, '404': error('Not found') },
    },
  },
  '/api/consultations/reports/{id}/download': {
    get: {
      tags: ['Consultations'],
      summary: 'Download the report workbook',
      security: security('consultation_result:read'),
      parameters: [idParam],
      responses: {
        '200': { description: 'The XLSX', content: { 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': { schema: { type: 'string', format: 'binary' } } } },
        '404': error('Not found'),
        '409': error('The report is not ready'),
      },
    },
  },
};

export const consultationsOpenApi: OpenApiFragment = {
  tags: [{ name: 'Consultations', description: 'Consultation queue and lifecycle, encrypted results, metrics, insurer reports' }],
  paths: consultationsOpenApiPaths,
  schemas: consultationsOpenApiComponents.schemas,
};
