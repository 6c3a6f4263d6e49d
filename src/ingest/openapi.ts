/**
 * OpenAPI fragment of referral ingestion: henvisning XML (AppRec answers), the Pridok webhook and the message store
 * API (list, read, raw, replay). Query and request schemas are the ones the routes validate with.
 */
import { errorResponses, jsonContent, queryParameters, type OpenApiFragment, envelope } from '../platform/http/openapi-fragment.js';
import { pridokReferralSchema } from './pridok/service.js';
import { messageListQuerySchema, replayRequestSchema } from './routes.js';


const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', maxLength: 64 }, description: 'Message-store id (UUID)' };
const errorJson = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };

const messageSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    source: { enum: ['henvisning', 'pridok', 'hl7v2'] },
    status: { enum: ['received', 'processed', 'failed', 'rejected'] },
    content_type: { type: 'string' },
    received_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    expires_at: { type: 'string', format: 'date-time', description: 'received_at + MESSAGE_RETENTION_DAYS' },
    size: { type: 'integer' },
    sha256: { type: 'string' },
    external_id: { type: 'string', description: 'MsgId (henvisning), JournalGuid (Pridok) or MSH-10 (HL7 v2): the dedup key' },
    message_type: { type: 'string', description: 'MsgInfo/Type (e.g. HENVISNING_NYTILSTAND) or MSH-9 (e.g. ADT^A01)' },
    format: { type: 'string', description: 'Namespace URI of the content, or pridok-referral-json' },
    sender: { type: 'object', description: 'Organisation names and ids (no persons)' },
    receiver: { type: 'object' },
    error: {
      type: 'object',
      properties: { code: { type: 'string', description: 'AppRec 8221 code (T01, E31 …) or an internal code (mapping_failed, fhir_store_failed, validation_failed …)' }, message: { type: 'string' }, details: {} },
    },
    warnings: { type: 'array', items: { type: 'string' } },
    fhir: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          reference: { type: 'string' },
          action: { enum: ['created', 'updated', 'unchanged', 'kept', 'skipped_older', 'skipped_state'] },
          versionId: { type: 'string' },
        },
      },
    },
    mapping: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' }, sha256: { type: 'string' } } },
    receipt: {
      type: 'object',
      properties: { kind: { enum: ['apprec', 'http', 'ack'] }, status: { type: 'string' }, id: { type: 'string' }, at: { type: 'string' }, content_type: { type: 'string' }, body: { type: 'string', description: 'messages:read_raw only' } },
    },
    attempts: { type: 'integer' },
    runs: { type: 'array', items: { type: 'object' } },
    raw_storage: { enum: ['inline', 'media'] },
    raw: { type: 'object', properties: { encoding: { const: 'base64' }, content: { type: 'string' } }, description: 'include_raw=true with messages:read_raw' },
  },
  required: ['id', 'source', 'status', 'received_at'],
} as const;

export const ingestOpenApi: OpenApiFragment = {
  tags: [
    { name: 'referrals', description: 'Inbound referrals: henvisning XML (MsgHead v1.2 + Henvisning v2.0, answered with AppRec v1.1) and Pridok webhooks' },
    { name: 'messages', description: 'The message store: every inbound message, raw, with its outcome; replay with the current mappings' },
  ],
  schemas: { InboundMessage: messageSchema, PridokReferral: pridokReferralSchema, ReplayRequest: replayRequestSchema },
  paths: {
    '/api/messages': {
      post: {
        tags: ['referrals'],
        summary: 'Submit a henvisning (MsgHead v1.2 carrying Henvisning v2.0, or a Henvisning v1.1/v1.0 Message; the answer is an AppRec v1.1) or an HL7 v2 message (x-application/hl7-v2+er7; the answer is its ACK)',
        description:
          'The message is stored before it is processed. AppRec status 1 = processed; 2 = rejected with 8221 errors (T01 not well-formed/undecodable, ' +
          'T02 fails the XSD, T10 unsupported format or namespace, T99 DTD or entity declarations, E10 MsgId not a UUID, E21 receiver not served, ' +
          'E30 no national identifier, E31 wrong check digits). A repeated MsgId gets the stored AppRec (X-Duplicate: true). X-Message-Id is the message-store id. ' +
          'HL7 v2 (Content-Type x-application/hl7-v2+er7, docs/hl7v2.md): ADT^A01/A04/A08/A40, REF^I12, ORM^O01, answered with an ACK (AA processed; AE the content ' +
          'was refused, e.g. a person number with wrong check digits; AR the envelope was refused, e.g. no MSH-10, unsupported type, a receiving facility (MSH-6) the ' +
          "token's tenant has not registered, or our side failed and a resend is processed again). A repeated MSH-10 from the same sender gets the stored ACK.",
        security: [{ bearer: ['messages:write'] }],
        requestBody: { required: true, content: { 'application/xml': { schema: { type: 'string' } }, 'x-application/hl7-v2+er7': { schema: { type: 'string' } } } },
        responses: {
          200: {
            description: 'AppRec v1.1 (application/xml), or the ACK of an HL7 v2 message',
            content: { 'application/xml': { schema: { type: 'string' } }, 'x-application/hl7-v2+er7': { schema: { type: 'string' } } },
          },
          400: { description: 'Not an XML document (request_malformed)', content: errorJson },
          413: { description: 'Larger than MESSAGE_MAX_BYTES', content: errorJson },
          415: { description: 'Content-Type is neither XML nor x-application/hl7-v2+er7', content: errorJson },
          500: { description: 'Stored but mapping or FHIR store failed (processing_failed, message_id); resend or replay', content: errorJson },
          ...errorResponses,
        },
      },
      get: {
        tags: ['messages'],
        summary: 'List stored messages, newest first (no raw content unless include_raw with messages:read_raw)',
        security: [{ bearer: ['messages:read'] }],
        parameters: queryParameters(messageListQuerySchema),
        responses: {
          200: { description: 'A page of messages (paging in the envelope)', content: jsonContent(envelope({ type: 'array', items: { $ref: '#/components/schemas/InboundMessage' } })) },
          422: { description: 'Bad query parameter (validation_failed)' },
          ...errorResponses,
        },
      },
    },
    '/api/messages/{id}': {
      get: {
        tags: ['messages'],
        summary: 'One stored message with its outcome (include_raw=true needs messages:read_raw)',
        security: [{ bearer: ['messages:read'] }],
        parameters: [idParam, { name: 'include_raw', in: 'query', required: false, schema: { type: 'boolean' } }],
        responses: { 200: { description: 'The message', content: jsonContent(envelope({ $ref: '#/components/schemas/InboundMessage' })) }, 404: { description: 'Unknown id' }, ...errorResponses },
      },
    },
    '/api/messages/{id}/raw': {
      get: {
        tags: ['messages'],
        summary: 'The raw bytes of a stored message, with their content type',
        security: [{ bearer: ['messages:read_raw'] }],
        parameters: [idParam],
        responses: { 200: { description: 'The raw message' }, 404: { description: 'Unknown id' }, ...errorResponses },
      },
    },
    '/api/messages/{id}/replay': {
      post: {
        tags: ['messages'],
        summary: 'Re-run the current mapping on a stored message and record the new outcome (synchronous)',
        description:
          'A replay that arrives while the same message is being processed (ingest, a resend, another replay) waits for that run and answers with its outcome instead of processing the message twice.',
        security: [{ bearer: ['messages:replay'] }],
        parameters: [idParam],
        responses: {
          200: { description: 'The message with its new outcome', content: jsonContent(envelope({ $ref: '#/components/schemas/InboundMessage' })) },
          404: { description: 'Unknown id' },
          409: { description: 'message_busy: another run of this message did not finish within 30 s' },
          ...errorResponses,
        },
      },
    },
    '/api/messages/replay': {
      post: {
        tags: ['messages'],
        summary: 'Replay every stored message matching a filter (oldest first) as the job messages.replay',
        security: [{ bearer: ['messages:replay'] }],
        requestBody: { required: false, content: jsonContent({ $ref: '#/components/schemas/ReplayRequest' }) },
        responses: {
          202: { description: 'Queued: {status: pending, matched, links: [{entity: job, href}]}; the job result counts processed/rejected/failed' },
          422: { description: 'Bad filter (validation_failed)' },
          ...errorResponses,
        },
      },
    },
    '/api/messages/replay/preview': {
      post: {
        tags: ['messages'],
        summary: 'Preview a replay of every matching message (job messages.replay_preview): what each FHIR resource would become, nothing written',
        description:
          'The same body as POST /api/messages/replay (use_mappings runs installed mapping versions other than the current ones). The finished job answers a summary {messages, changed, unchanged, not_processed} and a link to the kept report; replaying the same body writes what the report shows.',
        security: [{ bearer: ['messages:replay'] }],
        requestBody: { required: false, content: jsonContent({ $ref: '#/components/schemas/ReplayRequest' }) },
        responses: {
          202: { description: 'Queued: {status: pending, matched, links: [{entity: job, href}]}' },
          422: { description: 'Bad filter, or a mapping version in use_mappings that is not installed (validation_failed)' },
          ...errorResponses,
        },
      },
    },
    '/api/messages/replay/previews/{job_id}': {
      get: {
        tags: ['messages'],
        summary: 'The kept report of a finished replay preview (JSON download)',
        description:
          'Report: {job_id, tenant, created_at, query, selection, summary, messages: [{id, source, status, storedMapping, mapping, outcome, error?, resources: [{reference, change: created|changed|unchanged, action, diff?: {path: [stored, would be]}}]}]}.',
        security: [{ bearer: ['messages:replay'] }],
        parameters: [{ name: 'job_id', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{24}$' } }],
        responses: {
          200: { description: 'The report (Content-Disposition: attachment)', content: jsonContent({ type: 'object' }) },
          404: { description: 'No preview job of the caller\'s legal entity with this id' },
          409: { description: 'The preview job has not finished' },
          ...errorResponses,
        },
      },
    },
    '/api/webhooks/pridok/referrals': {
      post: {
        tags: ['referrals'],
        summary: 'Pridok referral webhook: Patient (insurer-referred, no marketing), ServiceRequest, planned Encounter',
        description:
          'Authenticated by X-Pridok-Timestamp (unix seconds) and X-Pridok-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the webhook secret of a tenant> (no bearer token); the tenant whose secret matches owns the referral.',
        parameters: [
          { name: 'X-Pridok-Timestamp', in: 'header', required: true, schema: { type: 'string', pattern: '^[0-9]{1,12}$' } },
          { name: 'X-Pridok-Signature', in: 'header', required: true, schema: { type: 'string', pattern: '^sha256=[0-9a-fA-F]{64}$' } },
        ],
        requestBody: { required: true, content: jsonContent({ $ref: '#/components/schemas/PridokReferral' }) },
        responses: {
          201: { description: 'Created: data {patient, service_request, encounter, message_id}' },
          200: { description: 'This JournalGuid was processed before: the same references' },
          400: { description: 'Body is not JSON' },
          401: { description: 'Missing or invalid signature, or a timestamp outside PRIDOK_SIGNATURE_MAX_SKEW_SECONDS (nothing stored)' },
          413: { description: 'Larger than MESSAGE_MAX_BYTES' },
          415: { description: 'Not application/json' },
          422: { description: 'validation_failed: every bad field, or $.PID with wrong check digits' },
          500: { description: 'Stored but not processed (processing_failed); resend or replay' },
          503: { description: 'No tenant has a Pridok webhook secret (not_configured)' },
        },
      },
    },
  },
};
