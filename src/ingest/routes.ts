/**
 * Message store API (operators).
 *
 *   GET  /api/messages                 messages:read    list; filters source, status, from, to (received), external_id
 *                                                       (MsgId / JournalGuid), mapping_name, mapping_version; paging
 *                                                       page / page_size. No raw content, no error details …
 *   GET  /api/messages/{id}            messages:read    … unless the token also has messages:read_raw and
 *                                                       include_raw=true (raw as base64, receipt body, error details)
 *   GET  /api/messages/{id}/raw        messages:read_raw   the raw bytes with their content type
 *   POST /api/messages/{id}/replay     messages:replay  re-runs the current mapping on the stored raw message
 *                                                       (synchronous); 200 with the message and its new outcome
 *   POST /api/messages/replay          messages:replay  body: the same filters (+ ids, limit ≤ 10 000); runs as the
 *                                                       job `messages.replay`: 202 with the job link (GET /api/jobs/{id})
 *   POST /api/messages/replay/preview  messages:replay  the same body; the job `messages.replay_preview` writes nothing
 *                                                       but its report (what each FHIR resource would become)
 *   GET  /api/messages/replay/previews/{job_id}         the kept report of a finished preview (JSON download)
 *   Both replay bodies take `use_mappings` {name: version} to run installed versions other than the current ones.
 *
 * Replay has its own scope: it rewrites FHIR data from stored messages, which neither senders (messages:write) nor
 * readers should be able to trigger.
 *
 * Every route sees only the messages of the caller's tenant (another tenant's message answers 404). Support staff
 * with the scope support:cross_tenant name another tenant in X-Target-Tenant; each such access is audited.
 */
import { Router, type Request, type Response } from 'express';
import type { MessageStore } from './message-store.js';
import type { ReplayService } from './replay.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { MappingRegistry } from '../mapping/registry.js';
import type { Authenticator } from '../platform/auth/middleware.js';
import type { MediaStorage } from '../platform/storage/media-storage.js';
import type { OperatorAccessLog } from '../platform/tenancy/request-tenant.js';
import { sendData, sendEnvelopeError } from '../platform/http/envelope.js';
import { envelopeTenantErrors } from '../platform/http/errors.js';
import { jobHref } from '../jobs/job-view.js';
import { createAjv, validateWith, validationFailed } from '../platform/http/validation-error.js';
import { MessageBusyError } from './attempts.js';
import { REPLAY_JOB, REPLAY_MAX, toQuery, type ReplayJobData } from './replay.js';
import { previewReportKey, REPLAY_PREVIEW_JOB } from './preview-job.js';
import { targetTenant } from '../platform/tenancy/request-tenant.js';
import { retainUntilOf, type MessageDoc, type MessageQuery, type MessageSource, type MessageStatus } from './message-store.js';

/** What the message store API uses of the engine. */
interface MessageRoutesDeps {
  /** Verifies bearer tokens. */
  readonly auth: Authenticator;
  /** The ingest services used here. */
  ingest: { mappings: MappingRegistry; messages: MessageStore; replay: ReplayService };
  /** Background jobs. */
  readonly jobs: JobRunner;
  /** Signed originals and generated documents. */
  readonly media: MediaStorage;
  /** Audit trail of support staff acting across tenants. */
  readonly operatorAccess: OperatorAccessLog;
}

const filterProperties = {
  source: { type: 'string', enum: ['henvisning', 'pridok', 'hl7v2'] },
  status: { type: 'string', enum: ['received', 'processed', 'failed', 'rejected'] },
  from: { type: 'string', format: 'date-time', description: 'Received at or after' },
  to: { type: 'string', format: 'date-time', description: 'Received before' },
  external_id: { type: 'string', maxLength: 200, description: 'MsgId (henvisning), JournalGuid (Pridok) or MSH-10 (HL7 v2)' },
  mapping_name: { type: 'string', maxLength: 100 },
  mapping_version: { type: 'string', maxLength: 50 },
} as const;

export const messageListQuerySchema = {
  type: 'object',
  properties: {
    ...filterProperties,
    include_raw: { type: 'boolean', default: false },
    page: { type: 'integer', minimum: 1, default: 1 },
    page_size: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  },
  additionalProperties: false,
} as const;

export const replayRequestSchema = {
  type: 'object',
  properties: {
    ...filterProperties,
    ids: { type: 'array', items: { type: 'string', maxLength: 64 }, minItems: 1, maxItems: REPLAY_MAX },
    limit: { type: 'integer', minimum: 1, maximum: REPLAY_MAX, default: 1000 },
    use_mappings: {
      type: 'object',
      description: 'Installed mapping versions to run instead of the current ones, by mapping name: {"henvisning-v2.0": "1.2.0"}',
      propertyNames: { maxLength: 100 },
      additionalProperties: { type: 'string', minLength: 1, maxLength: 50 },
      maxProperties: 20,
    },
  },
  additionalProperties: false,
} as const;

const validateList = createAjv({ coerceTypes: true, useDefaults: true }).compile(messageListQuerySchema);
const validateReplay = createAjv({ useDefaults: true }).compile(replayRequestSchema);
const validateOne = createAjv({ coerceTypes: true, useDefaults: true }).compile({
  type: 'object',
  properties: { include_raw: { type: 'boolean', default: false } },
  additionalProperties: false,
});

interface Filters {
  source?: MessageSource;
  status?: MessageStatus;
  from?: string;
  to?: string;
  external_id?: string;
  mapping_name?: string;
  mapping_version?: string;
}

/** The API's snake_case filters as the replay job stores them (dates kept as the ISO strings given). */
function jobQueryOf(f: Filters & { ids?: string[] }): ReplayJobData['query'] {
  return {
    source: f.source,
    status: f.status,
    from: f.from,
    to: f.to,
    externalId: f.external_id,
    mappingName: f.mapping_name,
    mappingVersion: f.mapping_version,
    ids: f.ids,
  };
}

function queryOf(f: Filters, tenant: string): MessageQuery {
  return toQuery(jobQueryOf(f), tenant);
}

/** The API view of a stored message. Raw content, receipt body and error details only with `full`. */
function messageView(doc: MessageDoc, full: boolean): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: doc._id,
    source: doc.source,
    status: doc.status,
    content_type: doc.contentType,
    received_at: doc.receivedAt.toISOString(),
    updated_at: doc.updatedAt.toISOString(),
    expires_at: retainUntilOf(doc).toISOString(),
    size: doc.size,
    sha256: doc.sha256,
    external_id: doc.externalId,
    message_type: doc.messageType,
    format: doc.format,
    sender: doc.sender,
    receiver: doc.receiver,
    error: doc.error ? { code: doc.error.code, message: doc.error.message, ...(full && doc.error.details !== undefined ? { details: doc.error.details } : {}) } : undefined,
    warnings: doc.warnings,
    fhir: doc.fhir,
    mapping: doc.mapping,
    receipt: doc.receipt
      ? { kind: doc.receipt.kind, status: doc.receipt.status, id: doc.receipt.id, at: doc.receipt.at.toISOString(), content_type: doc.receipt.contentType, ...(full ? { body: doc.receipt.body } : {}) }
      : undefined,
    attempts: doc.attempts,
    runs: doc.runs.map((r) => ({ ...r, at: r.at.toISOString() })),
    raw_storage: doc.rawMedia ? 'media' : 'inline',
  };
  if (full && doc.raw) view.raw = { encoding: 'base64', content: Buffer.from(doc.raw.buffer).toString('base64') };
  return JSON.parse(JSON.stringify(view)) as Record<string, unknown>;
}

export function messagesRouter(ctx: MessageRoutesDeps): Router {
  const router = Router();
  const store = () => ctx.ingest.messages;
  const tenantOf = (req: Request) => targetTenant(req, ctx.operatorAccess);
  const auth = ctx.auth.inEnvelope();

  router.get('/api/messages', auth.requireScopes('messages:read'), async (req: Request, res: Response) => {
    const q = { ...(req.query as Record<string, unknown>) };
    const invalid = validateWith(validateList, q);
    if (invalid) return sendEnvelopeError(req, res, 422, { ...invalid });
    const f = q as unknown as Filters & { include_raw: boolean; page: number; page_size: number };
    const full = f.include_raw && req.auth!.scopes.has('messages:read_raw');
    if (f.include_raw && !full) {
      return sendEnvelopeError(req, res, 403, { type: 'forbidden', message: 'Your scope does not allow to access this resource. Missing allowances: messages:read_raw' });
    }
    const { messages, total } = await store().list(queryOf(f, await tenantOf(req)), { limit: f.page_size, offset: (f.page - 1) * f.page_size }, full);
    sendData(
      req,
      res,
      200,
      messages.map((m) => messageView(m, full)),
      { paging: { page_number: f.page, page_size: f.page_size, total_entries: total, total_pages: Math.ceil(total / f.page_size) } },
    );
  });

  router.get('/api/messages/:id', auth.requireScopes('messages:read'), async (req: Request, res: Response) => {
    const q = { ...(req.query as Record<string, unknown>) };
    const invalid = validateWith(validateOne, q);
    if (invalid) return sendEnvelopeError(req, res, 422, { ...invalid });
    const includeRaw = (q as { include_raw: boolean }).include_raw;
    if (includeRaw && !req.auth!.scopes.has('messages:read_raw')) {
      return sendEnvelopeError(req, res, 403, { type: 'forbidden', message: 'Your scope does not allow to access this resource. Missing allowances: messages:read_raw' });
    }
    const doc = await store().find(String(req.params.id), await tenantOf(req));
    if (!doc) return sendEnvelopeError(req, res, 404, { type: 'not_found', message: 'Message not found' });
    const view = messageView(doc, includeRaw);
    if (includeRaw && !doc.raw) view.raw = { encoding: 'base64', content: (await store().raw(doc)).toString('base64') };
    sendData(req, res, 200, view);
  });

  router.get('/api/messages/:id/raw', auth.requireScopes('messages:read_raw'), async (req: Request, res: Response) => {
    const doc = await store().find(String(req.params.id), await tenantOf(req));
    if (!doc) return sendEnvelopeError(req, res, 404, { type: 'not_found', message: 'Message not found' });
    res.status(200).type(doc.contentType).send(await store().raw(doc));
  });

  /** A replay (or its preview) of the filtered messages as a job: 202 with the job link. */
  const replayAsJob = (jobName: string) => async (req: Request, res: Response) => {
    const body = req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body) ? { ...(req.body as Record<string, unknown>) } : {};
    const invalid = validateWith(validateReplay, body);
    if (invalid) return sendEnvelopeError(req, res, 422, { ...invalid });
    const f = body as unknown as Filters & { ids?: string[]; limit: number; use_mappings?: Record<string, string> };
    const notInstalled = Object.entries(f.use_mappings ?? {}).filter(([name, version]) => !ctx.ingest.mappings.byVersion(name, version));
    if (notInstalled.length > 0) {
      return sendEnvelopeError(req, res, 422, {
        ...validationFailed(notInstalled.map(([name, version]) => ({ entry_type: 'json_data_property', entry: `$.use_mappings.${name}`, rules: [{ rule: 'inclusion', params: [], description: `Mapping ${name} has no installed version ${version}` }] }))),
      });
    }
    const tenant = await tenantOf(req);
    const data: ReplayJobData = { tenant, query: jobQueryOf(f), limit: f.limit, ...(f.use_mappings ? { useMappings: Object.entries(f.use_mappings).map(([name, version]) => ({ name, version })) } : {}) };
    const matched = Math.min(await store().collection.countDocuments(store().filter(toQuery(data.query, tenant))), f.limit);
    const job = await ctx.jobs.enqueue(jobName, data, { owner: { userId: req.auth!.userId, clientId: tenant } });
    sendData(req, res, 202, { status: 'pending', matched, links: [{ entity: 'job', href: jobHref(job.id) }] });
  };
  router.post('/api/messages/replay', auth.requireScopes('messages:replay'), replayAsJob(REPLAY_JOB));
  router.post('/api/messages/replay/preview', auth.requireScopes('messages:replay'), replayAsJob(REPLAY_PREVIEW_JOB));

  router.get('/api/messages/replay/previews/:job_id', auth.requireScopes('messages:replay'), async (req: Request, res: Response) => {
    const job = await ctx.jobs.get(String(req.params.job_id));
    // Another tenant's preview answers like one that does not exist.
    if (!job || job.name !== REPLAY_PREVIEW_JOB || (job.data as ReplayJobData).tenant !== (await tenantOf(req))) {
      return sendEnvelopeError(req, res, 404, { type: 'not_found', message: 'Replay preview not found' });
    }
    if (job.status === 'pending' || job.status === 'processing') {
      return sendEnvelopeError(req, res, 409, { type: 'request_conflict', message: `The preview is not finished; poll ${jobHref(job._id.toHexString())}` });
    }
    const report = await ctx.media.get(previewReportKey(job._id.toHexString()));
    if (!report) return sendEnvelopeError(req, res, 404, { type: 'not_found', message: 'Replay preview not found' });
    res.status(200).type('application/json').setHeader('Content-Disposition', `attachment; filename="replay-preview-${job._id.toHexString()}.json"`).send(report.bytes);
  });

  router.post('/api/messages/:id/replay', auth.requireScopes('messages:replay'), async (req: Request, res: Response) => {
    let doc;
    try {
      doc = await ctx.ingest.replay.replayOne(String(req.params.id), await tenantOf(req));
    } catch (err) {
      if (!(err instanceof MessageBusyError)) throw err;
      return sendEnvelopeError(req, res, 409, { type: 'message_busy', message: 'The message is being processed by another request; try again later' });
    }
    if (!doc) return sendEnvelopeError(req, res, 404, { type: 'not_found', message: 'Message not found' });
    sendData(req, res, 200, messageView(doc, false));
  });

  // A token without a legal entity, or X-Target-Tenant without the support scope: 403 in the envelope too.
  router.use('/api/messages', envelopeTenantErrors);

  return router;
}
