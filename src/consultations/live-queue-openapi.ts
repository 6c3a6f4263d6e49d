/**
 * OpenAPI 3.1 fragment of the live queue (the event stream), a patient's consultation history and the secretary's
 * "create booking" (merged into /api/openapi.json by src/app/openapi.ts).
 */
import { envelope, type OpenApiFragment } from '../platform/http/openapi-fragment.js';
import { EVENT_ACTIONS } from './events.js';
import { CONSULTATION_STATES } from './states.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('ConsultationError')) });
const nullableDate = { type: ['string', 'null'], format: 'date-time' };

const eventSchema = {
  type: 'object',
  description: 'The data of one SSE event (event name "consultation"; the SSE id is seq). Ids, states and times only: never result fields.',
  required: ['seq', 'action', 'at', 'consultation'],
  properties: {
    seq: { type: 'integer', minimum: 1, description: 'Position in the tenant\'s stream: 1, 2, 3 … without gaps' },
    action: { type: 'string', enum: [...EVENT_ACTIONS] },
    at: { type: 'string', format: 'date-time' },
    consultation: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        state: { type: 'string', enum: [...CONSULTATION_STATES] },
        service_request_id: { type: 'string' },
        patient_id: { type: 'string' },
        encounter_id: { type: 'string' },
        organization_id: { type: ['string', 'null'] },
        practitioner_id: { type: ['string', 'null'] },
        created_at: { type: 'string', format: 'date-time' },
        assigned_at: nullableDate,
        starts_at: nullableDate,
        ends_at: nullableDate,
        cancelled_at: nullableDate,
        booked_at: nullableDate,
      },
    },
  },
};

const historyEntrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    state: { type: 'string', enum: [...CONSULTATION_STATES] },
    service_request_id: { type: 'string' },
    encounter_id: { type: 'string' },
    organization_id: { type: ['string', 'null'] },
    practitioner_id: { type: ['string', 'null'] },
    created_at: { type: 'string', format: 'date-time' },
    booked_at: nullableDate,
    assigned_at: nullableDate,
    starts_at: nullableDate,
    ends_at: nullableDate,
    cancelled_at: nullableDate,
    status_history: {
      type: 'array',
      items: {
        type: 'object',
        properties: { state: { type: 'string' }, action: { type: 'string' }, at: { type: 'string', format: 'date-time' }, practitioner_id: { type: 'string' } },
      },
    },
    icpc2: { type: ['string', 'null'], description: 'Only with scope consultation_result:read (null: no result yet); absent otherwise' },
  },
};

export const liveQueueOpenApi: OpenApiFragment = {
  paths: {
    '/api/consultations/events': {
      get: {
        tags: ['Consultations'],
        summary: 'The live queue: the tenant\'s consultation changes as Server-Sent Events',
        description:
          'One event per create, pick, assign, start, finish and cancel, in the order they were written, numbered per tenant ' +
          '(the SSE id). Without a position the stream starts with the next change. A reconnecting client sends Last-Event-ID ' +
          '(EventSource does so itself) and receives every event after it, none twice; a first connection may give the ' +
          'position as ?after=. A comment line (": heartbeat …") is sent when the stream was idle for ' +
          'CONSULTATION_STREAM_HEARTBEAT_SECONDS (default 15). The stream also carries changes made by other engine ' +
          'processes on the same database.',
        security: [{ bearer: ['consultations:read'] }],
        parameters: [
          { name: 'Last-Event-ID', in: 'header', schema: { type: 'string', pattern: '^\\d+$' }, description: 'Resume after this event' },
          { name: 'after', in: 'query', schema: { type: 'integer', minimum: 0 }, description: 'Resume after this event (when no Last-Event-ID header is sent)' },
        ],
        responses: {
          '200': {
            description: 'text/event-stream: `id: <seq>`, `event: consultation`, `data: <ConsultationEvent JSON>`',
            content: { 'text/event-stream': { schema: { type: 'string', description: 'The data of each event is a ConsultationEvent (components)' } } },
          },
          '401': error('Missing or invalid bearer token'),
          '403': error('Missing scope, or the token names no legal entity'),
          '422': error('Last-Event-ID / after is not a number, or is ahead of the stream'),
          '503': error('Too many open streams on this engine'),
        },
      },
    },
    '/api/consultations/patients/{patient_id}/history': {
      get: {
        tags: ['Consultations'],
        summary: "A patient's consultations (newest first): states, times, practitioner; the ICPC-2 code for result readers",
        description: 'The caller\'s tenant only (another tenant\'s patient: 404). At most 500 consultations. Each read is recorded as an AuditEvent.',
        security: [{ bearer: ['consultations:read'] }],
        parameters: [{ name: 'patient_id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'The history', content: json({ type: 'object', properties: { meta: { type: 'object' }, data: { type: 'array', items: ref('ConsultationHistoryEntry') } } }) },
          '401': error('Missing or invalid bearer token'),
          '403': error('Missing scope'),
          '404': error('No such patient in the caller\'s tenant'),
        },
      },
    },
    '/api/consultations/bookings': {
      post: {
        tags: ['Consultations'],
        summary: 'Create booking: the secretary places a screened referral in the queue',
        description:
          'Creates the consultation of a referral like POST /api/consultations, marked as booked (booked_by, booked_at), and ' +
          'records an AuditEvent (create) naming the secretary, the Encounter, the referral and the patient. While the referral ' +
          'has a live consultation, that one is returned with 200 and nothing is recorded.',
        security: [{ bearer: ['consultations:book'] }],
        requestBody: { required: true, content: json(ref('CreateConsultation')) },
        responses: {
          '201': { description: 'Booked', content: json(envelope(ref('Consultation'))) },
          '200': { description: 'The live consultation of this referral already existed', content: json(envelope(ref('Consultation'))) },
          '401': error('Missing or invalid bearer token'),
          '403': error('Missing scope consultations:book'),
          '409': error('The referral is revoked or entered in error'),
          '422': error('Invalid body or unknown referral'),
        },
      },
    },
  },
  schemas: { ConsultationEvent: eventSchema, ConsultationHistoryEntry: historyEntrySchema },
};
