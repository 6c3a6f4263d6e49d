/**
 * Consultations API (documented in openapi.ts; scopes in docs/consultations.md).
 *
 *   GET  /api/consultations                     consultations:read     the queue: filters state, organization_id,
 *                                                                      practitioner_id, date / date_from / date_to; paging
 *   GET  /api/consultations/metrics             consultations:read     WAITING_TIME / TREATMENT_DURATION per day/organization
 *   GET  /api/consultations/events              consultations:read     the live queue (Server-Sent Events, stream.ts)
 *   GET  /api/consultations/patients/:pid/history consultations:read   a patient's consultations (+ consultation_result:read:
 *                                                                      the ICPC-2 code)
 *   GET  /api/consultations/:id                 consultations:read     (+ consultation_result:read: decrypted result)
 *   POST /api/consultations                     consultations:write    create from a referral (ServiceRequest id)
 *   POST /api/consultations/bookings            consultations:book     the secretary's "create booking" (audited)
 *   POST /api/consultations/:id/pick            consultations:write    the token user takes it
 *   POST /api/consultations/:id/assign          consultations:supervise
 *   POST /api/consultations/:id/start           consultations:write    assigned practitioner; sends session links
 *   POST /api/consultations/:id/notify          consultations:write    re-send session links
 *   POST /api/consultations/:id/finish          consultations:write    assigned practitioner; body = the result
 *   POST /api/consultations/:id/cancel          consultations:write (own) or consultations:supervise (any)
 *   POST /api/consultations/:id/rebook          consultations:write    its practitioner (or a supervisor) books a
 *                                                                      follow-up (201; a live one again: 200)
 *   POST /api/consultations/reports             consultation_result:read   request an insurer report (job)
 *   GET  /api/consultations/reports[/:id]       consultation_result:read
 *   GET  /api/consultations/reports/:id/download consultation_result:read  the XLSX
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { sendForbidden } from '../platform/auth/middleware.js';
import { DecryptionError } from '../lib/crypto/field-cipher.js';
import type { AuditTrail } from '../fhir-store/ports.js';
import type { FhirStorage } from '../fhir-store/repository.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { FieldCipher } from '../lib/crypto/field-cipher.js';
import type { Authenticator } from '../platform/auth/middleware.js';
import type { Config } from '../platform/config/config.js';
import type { Database } from '../platform/db/mongo.js';
import type { MediaStorage } from '../platform/storage/media-storage.js';
import { sendData, sendEnvelopeError } from '../platform/http/envelope.js';
import { HttpError } from '../platform/http/errors.js';
import { log } from '../platform/logging/logger.js';
import { INSURER_REPORT_JOB, newReportDoc, parseRangeBound, readReport, reportsCollection, XLSX_CONTENT_TYPE, type ReportDoc } from './report.js';
import { assignSchema, cancelSchema, createConsultationSchema, finishSchema, reportRequestSchema } from './schemas.js';
import type { Actor, ConsultationService, FinishInput } from './service.js';
import { startPosition, streamEvents, streamsAvailable } from './stream.js';
import { CONSULTATION_STATES, isConsultationState, type ConsultationState } from './states.js';
import type { ConsultationDoc } from './types.js';
import { consultationView } from './views.js';
import { ownTenant, TenantAccessError } from '../platform/tenancy/request-tenant.js';
import { VALIDATION_FAILED_MESSAGE } from '../platform/http/validation-error.js';

/** What the consultations API uses of the engine. */
interface ConsultationRoutesDeps {
  /** Where reads and searches of personal data are recorded. */
  readonly audit: AuditTrail;
  /** Verifies bearer tokens. */
  readonly auth: Authenticator;
  /** The engine configuration. */
  readonly config: Config;
  /** The consultation service. */
  readonly consultations: ConsultationService;
  /** The database connection. */
  readonly database: Database;
  /** FHIR storage (the repository of each tenant). */
  readonly fhir: FhirStorage;
  /** Field encryption at rest. */
  readonly fieldCipher: FieldCipher;
  /** Background jobs. */
  readonly jobs: JobRunner;
  /** Signed originals and generated documents. */
  readonly media: MediaStorage;
  /** Set once SIGTERM arrived. */
  shuttingDown: boolean;
}

export const SCOPES = {
  read: 'consultations:read',
  write: 'consultations:write',
  supervise: 'consultations:supervise',
  resultRead: 'consultation_result:read',
  book: 'consultations:book',
} as const;

const HISTORY_LIMIT = 500;

const MAX_REPORT_DAYS = 366;

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = {
  create: ajv.compile(createConsultationSchema),
  assign: ajv.compile(assignSchema),
  cancel: ajv.compile(cancelSchema),
  finish: ajv.compile(finishSchema),
  report: ajv.compile(reportRequestSchema),
};

type Invalid = { entry: string; description: string; entry_type?: string };

function validationError(invalid: Invalid[]): HttpError {
  return new HttpError(422, 'validation_failed', VALIDATION_FAILED_MESSAGE, {
    invalid: invalid.map((i) => ({
      entry_type: i.entry_type ?? 'json_data_property',
      entry: i.entry,
      rules: [{ rule: 'invalid', params: [], description: i.description }],
    })),
  });
}

function ajvEntry(e: ErrorObject): Invalid {
  const base = '$' + e.instancePath.replace(/\//g, '.');
  if (e.keyword === 'required') return { entry: `${base}.${(e.params as { missingProperty: string }).missingProperty}`, description: 'is required' };
  if (e.keyword === 'additionalProperties') {
    return { entry: `${base}.${(e.params as { additionalProperty: string }).additionalProperty}`, description: 'is not allowed' };
  }
  if (e.keyword === 'enum') return { entry: base, description: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}` };
  return { entry: base, description: e.message ?? 'is invalid' };
}

function body<T>(validate: ValidateFunction, req: Request): T {
  const b: unknown = req.body ?? {};
  if (!validate(b)) throw validationError((validate.errors ?? []).map(ajvEntry));
  return b as T;
}

function actorOf(req: Request): Actor {
  const a = req.auth!;
  return { userId: a.userId, tenant: ownTenant(req), clientId: a.clientId, supervisor: a.scopes.has(SCOPES.supervise) };
}

/** 401 without a token, 403 unless the token has at least one of `scopes`. */
function requireAnyScope(ctx: ConsultationRoutesDeps, ...scopes: string[]): RequestHandler {
  const authenticate = ctx.auth.inEnvelope().authenticate();
  return (req, res, next) => {
    void authenticate(req, res, () => {
      if (!scopes.some((s) => req.auth!.scopes.has(s))) return sendForbidden(req, res, scopes, 'envelope');
      next();
    });
  };
}

function parsePaging(q: Record<string, unknown>, invalid: Invalid[]): { page: number; pageSize: number } {
  const page = q.page === undefined ? 1 : Number(q.page);
  const pageSize = q.page_size === undefined ? 50 : Number(q.page_size);
  if (!Number.isInteger(page) || page < 1) invalid.push({ entry_type: 'query_parameter', entry: '$.page', description: 'must be a positive integer' });
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 500) {
    invalid.push({ entry_type: 'query_parameter', entry: '$.page_size', description: 'must be an integer from 1 to 500' });
  }
  return { page, pageSize };
}

function str(q: Record<string, unknown>, name: string): string | undefined {
  const v = q[name];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/** Filters shared by the queue and the metrics: organization_id, practitioner_id, date / date_from / date_to. */
function parseFilters(q: Record<string, unknown>, invalid: Invalid[]) {
  const bound = (name: string, end: boolean) => {
    const v = str(q, name);
    if (v === undefined) return undefined;
    const d = parseRangeBound(v, end);
    if (!d) invalid.push({ entry_type: 'query_parameter', entry: `$.${name}`, description: 'must be a date (YYYY-MM-DD) or an ISO 8601 date-time with offset' });
    return d;
  };
  let createdFrom = bound('date_from', false);
  let createdTo = bound('date_to', true);
  if (str(q, 'date')) {
    createdFrom = bound('date', false);
    createdTo = createdFrom && /^\d{4}-\d{2}-\d{2}$/.test(str(q, 'date')!) ? new Date(createdFrom.getTime() + 86_400_000) : undefined;
    if (createdFrom && !createdTo) invalid.push({ entry_type: 'query_parameter', entry: '$.date', description: 'must be a day (YYYY-MM-DD)' });
  }
  let states: ConsultationState[] | undefined;
  const s = str(q, 'state');
  if (s) {
    const parts = s.split(',').map((p) => p.trim());
    const bad = parts.filter((p) => !isConsultationState(p));
    if (bad.length) invalid.push({ entry_type: 'query_parameter', entry: '$.state', description: `must be one or more (comma-separated) of ${CONSULTATION_STATES.join(', ')}` });
    states = parts.filter(isConsultationState);
  }
  return { states, organizationId: str(q, 'organization_id'), practitionerId: str(q, 'practitioner_id'), createdFrom, createdTo };
}

function reportView(r: ReportDoc): Record<string, unknown> {
  return {
    id: r._id,
    kind: r.kind,
    status: r.status,
    from: r.from.toISOString(),
    to: r.to.toISOString(),
    organization_id: r.organization_id,
    requested_by: r.requested_by,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
    row_count: r.row_count,
    size: r.size,
    job_id: r.job_id,
    job_href: r.job_id ? `/api/jobs/${r.job_id}` : null,
    download_href: r.status === 'ready' ? `/api/consultations/reports/${r._id}/download` : null,
    error: r.error,
  };
}

/**
 * The reports a requester may see: those requested by its own legal entity (client_id); a token without a legal
 * entity sees the reports of no legal entity (the daily runs and its own); scope admin sees all.
 */
/** Reports of the caller's tenant only (also for administrators: reports hold decrypted results). */
function reportScope(req: Request): Record<string, unknown> {
  return { client_id: ownTenant(req) };
}

/** A patient's consultation as the history shows it; the ICPC-2 code only when `icpc2` is given (result readers). */
function historyEntry(doc: ConsultationDoc, icpc2?: string | null): Record<string, unknown> {
  const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);
  return {
    id: doc._id,
    state: doc.state,
    service_request_id: doc.service_request_id,
    encounter_id: doc.encounter_id,
    organization_id: doc.organization_id,
    practitioner_id: doc.practitioner_id,
    created_at: iso(doc.created_at),
    booked_at: iso(doc.booking?.at),
    assigned_at: iso(doc.assigned_at),
    starts_at: iso(doc.starts_at),
    ends_at: iso(doc.ends_at),
    cancelled_at: iso(doc.cancelled_at),
    status_history: doc.status_history.map((h) => ({ state: h.state, action: h.action, at: iso(h.at), ...(h.practitioner_id ? { practitioner_id: h.practitioner_id } : {}) })),
    ...(icpc2 !== undefined ? { icpc2 } : {}),
  };
}

/** The ICPC-2 code of a finished consultation (null: no result, or it cannot be decrypted). */
function icpc2Of(service: ConsultationService, doc: ConsultationDoc): string | null {
  if (!doc.result) return null;
  try {
    return service.decrypt(doc)?.icpc2 ?? null;
  } catch (err) {
    if (!(err instanceof DecryptionError)) throw err;
    log().error({ consultationId: doc._id, err: { message: err.message } }, 'consultation result cannot be decrypted');
    return null;
  }
}

export function consultationsRouter(ctx: ConsultationRoutesDeps): Router {
  const router = Router();
  const auth = ctx.auth.inEnvelope();
  const service = ctx.consultations;
  const reports = reportsCollection(ctx.database.db);

  const view = (req: Request, doc: ConsultationDoc) => {
    const scopes = req.auth!.scopes;
    let result: Record<string, unknown> | undefined;
    if (doc.result && scopes.has(SCOPES.resultRead)) {
      try {
        result = { ...service.decrypt(doc)! };
      } catch (err) {
        if (!(err instanceof DecryptionError)) throw err;
        log().error({ consultationId: doc._id, err: { message: err.message } }, 'consultation result cannot be decrypted');
        result = { decryption_error: err.message };
      }
    }
    const showSessions = scopes.has(SCOPES.supervise) || doc.practitioner_id === req.auth!.userId;
    return consultationView(doc, { result: result as never, showSessions });
  };
  const id = (req: Request) => String(req.params.id);

  // ---- reports (before /:id) ----
  router.post('/api/consultations/reports', auth.requireScopes(SCOPES.resultRead), async (req, res) => {
    const b = body<{ from: string; to: string; organization_id?: string }>(validators.report, req);
    const invalid: Invalid[] = [];
    const from = parseRangeBound(b.from, false);
    const to = parseRangeBound(b.to, true);
    if (!from) invalid.push({ entry: '$.from', description: 'must be a date (YYYY-MM-DD) or an ISO 8601 date-time with offset' });
    if (!to) invalid.push({ entry: '$.to', description: 'must be a date (YYYY-MM-DD) or an ISO 8601 date-time with offset' });
    if (from && to && from >= to) invalid.push({ entry: '$.to', description: 'must be after from' });
    if (from && to && to.getTime() - from.getTime() > MAX_REPORT_DAYS * 86_400_000) {
      invalid.push({ entry: '$.to', description: `the range may span at most ${MAX_REPORT_DAYS} days` });
    }
    if (invalid.length) throw validationError(invalid);
    const report = newReportDoc({
      kind: 'on_demand',
      from: from!,
      to: to!,
      organization_id: b.organization_id,
      requested_by: req.auth!.userId,
      client_id: ownTenant(req),
    });
    await reports.insertOne(report);
    // The job records its id on the report itself (one writer per document: see revision-store.ts on FerretDB).
    const job = await ctx.jobs.enqueue(INSURER_REPORT_JOB, { report_id: report._id }, { owner: { userId: req.auth!.userId, clientId: req.auth!.clientId } });
    res.setHeader('Location', `/api/jobs/${job.id}`);
    sendData(req, res, 202, { ...reportView({ ...report, job_id: job.id }), links: [{ entity: 'job', href: `/api/jobs/${job.id}` }] });
  });

  router.get('/api/consultations/reports', auth.requireScopes(SCOPES.resultRead), async (req, res) => {
    const invalid: Invalid[] = [];
    const { page, pageSize } = parsePaging(req.query, invalid);
    if (invalid.length) throw validationError(invalid);
    const scope = reportScope(req);
    const [docs, total] = await Promise.all([
      reports.find(scope).sort({ created_at: -1 }).skip((page - 1) * pageSize).limit(pageSize).toArray(),
      reports.countDocuments(scope),
    ]);
    sendData(req, res, 200, docs.map(reportView), {
      paging: { page_number: page, page_size: pageSize, total_entries: total, total_pages: Math.ceil(total / pageSize) },
    });
  });

  router.get('/api/consultations/reports/:id', auth.requireScopes(SCOPES.resultRead), async (req, res) => {
    const r = await reports.findOne({ _id: id(req), ...reportScope(req) });
    if (!r) throw new HttpError(404, 'not_found', `Report ${id(req)} not found`);
    sendData(req, res, 200, reportView(r));
  });

  router.get('/api/consultations/reports/:id/download', auth.requireScopes(SCOPES.resultRead), async (req, res) => {
    const r = await reports.findOne({ _id: id(req), ...reportScope(req) });
    if (!r) throw new HttpError(404, 'not_found', `Report ${id(req)} not found`);
    if (r.status !== 'ready') throw new HttpError(409, 'request_conflict', `Report ${r._id} is ${r.status}; it can be downloaded once ready`);
    const bytes = await readReport({ cipher: ctx.fieldCipher, media: ctx.media }, r);
    if (!bytes) throw new HttpError(404, 'not_found', `The file of report ${r._id} is missing from media storage`);
    const name = `consultations_${r.from.toISOString().slice(0, 10)}_${new Date(r.to.getTime() - 1).toISOString().slice(0, 10)}.xlsx`;
    res.setHeader('Content-Type', XLSX_CONTENT_TYPE);
    res.setHeader('Content-Disposition', `attachment; filename="${name}"`);
    res.setHeader('Cache-Control', 'no-store');
    res.status(200).end(bytes);
  });

  // ---- metrics ----
  router.get('/api/consultations/metrics', auth.requireScopes(SCOPES.read), async (req, res) => {
    const invalid: Invalid[] = [];
    const f = parseFilters(req.query, invalid);
    const groupBy = (str(req.query, 'group_by') ?? 'day,organization').split(',').map((s) => s.trim());
    if (groupBy.some((g) => g !== 'day' && g !== 'organization')) {
      invalid.push({ entry_type: 'query_parameter', entry: '$.group_by', description: 'must be day, organization or day,organization' });
    }
    if (invalid.length) throw validationError(invalid);
    const groups = await service.metrics({ ...f, tenant: ownTenant(req), groupBy: groupBy as ('day' | 'organization')[] });
    sendData(req, res, 200, groups);
  });

  // ---- live queue (before /:id) ----
  router.get('/api/consultations/events', auth.requireScopes(SCOPES.read), async (req, res) => {
    const tenant = ownTenant(req);
    if (!streamsAvailable()) throw new HttpError(503, 'service_unavailable', 'Too many open event streams on this engine; retry later');
    const pos = await startPosition(req, service.events, tenant);
    if ('invalid' in pos) throw validationError([{ entry_type: 'request_header', entry: '$.Last-Event-ID', description: pos.invalid }]);
    const { streamHeartbeatMs, streamPollMs } = ctx.config.consultations;
    await streamEvents(req, res, service.events, tenant, pos.after, { heartbeatMs: streamHeartbeatMs, pollMs: streamPollMs, stopping: () => ctx.shuttingDown });
  });

  // ---- a patient's history ----
  router.get('/api/consultations/patients/:patient_id/history', auth.requireScopes(SCOPES.read), async (req, res) => {
    const tenant = ownTenant(req);
    const patientId = String(req.params.patient_id);
    const patient = /^[A-Za-z0-9\-.]{1,64}$/.test(patientId) ? await service.patient(tenant, patientId) : undefined;
    if (!patient) throw new HttpError(404, 'not_found', `Patient ${patientId} not found`);
    const docs = await service.patientHistory(tenant, patientId, HISTORY_LIMIT);
    const withCode = req.auth!.scopes.has(SCOPES.resultRead);
    await ctx.audit.record({
      interaction: 'read',
      type: 'Patient',
      tenant,
      userId: req.auth!.userId,
      clientId: req.auth!.clientId,
      address: req.socket.remoteAddress,
      resources: [patient],
      requestId: typeof req.id === 'string' ? req.id : undefined,
    });
    sendData(req, res, 200, docs.map((d) => historyEntry(d, withCode ? icpc2Of(service, d) : undefined)));
  });

  // ---- the secretary's "create booking" ----
  router.post('/api/consultations/bookings', auth.requireScopes(SCOPES.book), async (req, res) => {
    const b = body<{ service_request_id: string; organization_id?: string }>(validators.create, req);
    const { doc, created } = await service.create({ ...b, booking: true }, actorOf(req));
    if (created) {
      await ctx.audit.record({
        interaction: 'create',
        type: 'Encounter',
        tenant: doc.tenant,
        userId: req.auth!.userId,
        clientId: req.auth!.clientId,
        address: req.socket.remoteAddress,
        resources: [
          { resourceType: 'Encounter', id: doc.encounter_id, status: 'planned', class: { code: 'VR' }, subject: { reference: `Patient/${doc.patient_id}` } },
          { resourceType: 'ServiceRequest', id: doc.service_request_id, status: 'active', intent: 'order', subject: { reference: `Patient/${doc.patient_id}` } },
        ],
        requestId: typeof req.id === 'string' ? req.id : undefined,
      });
    }
    res.setHeader('Location', `/api/consultations/${doc._id}`);
    sendData(req, res, created ? 201 : 200, view(req, doc));
  });

  // ---- queue ----
  router.get('/api/consultations', auth.requireScopes(SCOPES.read), async (req, res) => {
    const invalid: Invalid[] = [];
    const f = parseFilters(req.query, invalid);
    const { page, pageSize } = parsePaging(req.query, invalid);
    if (invalid.length) throw validationError(invalid);
    const { docs, total } = await service.list({ ...f, tenant: ownTenant(req), limit: pageSize, offset: (page - 1) * pageSize });
    sendData(req, res, 200, docs.map((d: ConsultationDoc) => view(req, d)), {
      paging: { page_number: page, page_size: pageSize, total_entries: total, total_pages: Math.ceil(total / pageSize) },
    });
  });

  router.post('/api/consultations', auth.requireScopes(SCOPES.write), async (req, res) => {
    const b = body<{ service_request_id: string; organization_id?: string }>(validators.create, req);
    const { doc, created } = await service.create(b, actorOf(req));
    res.setHeader('Location', `/api/consultations/${doc._id}`);
    sendData(req, res, created ? 201 : 200, view(req, doc));
  });

  router.get('/api/consultations/:id', auth.requireScopes(SCOPES.read), async (req, res) => {
    const doc = await service.get(id(req), ownTenant(req));
    if (!doc) throw new HttpError(404, 'not_found', `Consultation ${id(req)} not found`);
    sendData(req, res, 200, view(req, doc));
  });

  router.post('/api/consultations/:id/pick', auth.requireScopes(SCOPES.write), async (req, res) => {
    sendData(req, res, 200, view(req, await service.pick(id(req), actorOf(req))));
  });

  router.post('/api/consultations/:id/assign', auth.requireScopes(SCOPES.supervise), async (req, res) => {
    const b = body<{ practitioner_id: string }>(validators.assign, req);
    sendData(req, res, 200, view(req, await service.assign(id(req), b.practitioner_id, actorOf(req))));
  });

  router.post('/api/consultations/:id/start', auth.requireScopes(SCOPES.write), async (req, res) => {
    sendData(req, res, 200, view(req, await service.start(id(req), actorOf(req))));
  });

  router.post('/api/consultations/:id/notify', auth.requireScopes(SCOPES.write), async (req, res) => {
    sendData(req, res, 200, view(req, await service.resendLinks(id(req), actorOf(req))));
  });

  router.post('/api/consultations/:id/finish', auth.requireScopes(SCOPES.write), async (req, res) => {
    const b = body<FinishInput>(validators.finish, req);
    sendData(req, res, 200, view(req, await service.finish(id(req), b, actorOf(req))));
  });

  router.post('/api/consultations/:id/cancel', requireAnyScope(ctx, SCOPES.write, SCOPES.supervise), async (req, res) => {
    const b = body<{ reason: string }>(validators.cancel, req);
    sendData(req, res, 200, view(req, await service.cancel(id(req), b.reason, actorOf(req))));
  });

  router.post('/api/consultations/:id/rebook', auth.requireScopes(SCOPES.write), async (req, res) => {
    const { doc, created } = await service.createFollowUp(id(req), actorOf(req));
    res.setHeader('Location', `/api/consultations/${doc._id}`);
    sendData(req, res, created ? 201 : 200, view(req, doc));
  });

  // Errors of these routes in the API envelope.
  router.use('/api/consultations', (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (err instanceof TenantAccessError) return sendEnvelopeError(req, res, err.status, { type: err.type, message: err.message });
    if (err instanceof HttpError) {
      if (err.status >= 500) log().error({ errorType: err.type }, 'consultation request failed');
      else log().info({ status: err.status, errorType: err.type }, 'consultation request rejected');
      return sendEnvelopeError(req, res, err.status, { type: err.type, message: err.message, ...err.extra });
    }
    next(err);
  });

  return router;
}
