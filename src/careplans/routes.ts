/**
 * Care plan API (eHealth envelope {meta:{code,url,type,request_id}, data|error}):
 *   POST /api/patients/:patient_id/care_plans                                    care_plan:write  create (status new)
 *   GET  /api/patients/:patient_id/care_plans[?status&page&page_size]            care_plan:read
 *   GET  /api/patients/:patient_id/care_plans/:id                                care_plan:read
 *   POST /api/patients/:patient_id/care_plans/:care_plan_id/activities           care_plan:write  {"signed_data"} → 202 job
 *   GET  /api/patients/:patient_id/care_plans/:care_plan_id/activities[?author&kind&status&page&page_size]
 *   GET  /api/patients/:patient_id/care_plans/:care_plan_id/activities/:id
 *   GET  /api/patients/:patient_id/care_plans/:care_plan_id/activities/:id/signed_content   the signed original (DER)
 * Reading needs the token's legal entity to manage the plan or an active approval of the patient (read or write).
 */
import { clientError } from '../platform/http/errors.js';
import { createHash } from 'node:crypto';
import { Router, type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import type { Filter } from 'mongodb';
import type { ValidateFunction } from 'ajv';
import type { CarePlanDeps } from './deps.js';
import { sendData, sendEnvelopeError } from '../platform/http/envelope.js';
import { log } from '../platform/logging/logger.js';
import { createAjv, validateWith, validationFailed, type InvalidEntry } from '../platform/http/validation-error.js';
import { clientJobView } from '../jobs/job-view.js';
import { activeEmployees, checkLegalEntity, hasApproval, partyOfUser } from './access.js';
import { CREATE_ACTIVITY_JOB, mediaKeyOf } from './activity-job.js';
import { activities, carePlans, newCarePlanDoc, type CarePlanInput } from './care-plans.js';
import { syncFhirCarePlan } from './fhir.js';
import { MSG } from './messages.js';
import { runRequestChecks } from './request-checks.js';
import { carePlanCreateSchema, signedDataRequestSchema } from './schemas.js';
import { ACTIVITY_STATUSES, CARE_PLAN_STATUSES, type ActivityDoc, type CarePlanDoc, type CreateActivityJobData } from './types.js';
import { activityView, carePlanView } from './views.js';
import { isDuplicateKey } from '../platform/db/mongo.js';

/** Bearer token + scope with the eHealth gateway's messages, in the envelope. */
function requireScope(ctx: CarePlanDeps, scope: string): RequestHandler {
  return ctx.auth.inEnvelope().requireScopes(scope);
}

function queryInvalid(entries: [string, string][]) {
  return validationFailed(
    entries.map(([entry, description]): InvalidEntry => ({ entry_type: 'query_parameter', entry, rules: [{ rule: 'invalid', params: [], description }] })),
  ) as unknown as Record<string, unknown>;
}

function paging(q: Record<string, unknown>, invalid: [string, string][]) {
  const page = q.page === undefined ? 1 : Number(q.page);
  const pageSize = q.page_size === undefined ? 50 : Number(q.page_size);
  if (!Number.isInteger(page) || page < 1) invalid.push(['$.page', 'expected a positive integer']);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100) invalid.push(['$.page_size', 'expected an integer between 1 and 100']);
  return { page, pageSize };
}

const singleString = (v: unknown) => (typeof v === 'string' ? v : undefined);

export function requestHash(d: CreateActivityJobData): string {
  return createHash('sha256').update(JSON.stringify([d.patient_id, d.care_plan_id, d.user_id, d.client_id, d.signed_data])).digest('base64url');
}

export function carePlansRouter(ctx: CarePlanDeps): Router {
  const router = Router();
  const ajv = createAjv();
  const validateSignedRequest: ValidateFunction = ajv.compile(signedDataRequestSchema);
  const validateCarePlan: ValidateFunction = ajv.compile(carePlanCreateSchema);
  const write = requireScope(ctx, 'care_plan:write');
  const read = requireScope(ctx, 'care_plan:read');

  /** The plan of the URL if the token may read it; otherwise an answer has been sent. */
  async function readablePlan(req: Request, res: Response, planId: string): Promise<CarePlanDoc | undefined> {
    const patientId = String(req.params.patient_id);
    const plan = await carePlans(ctx).findOne({ _id: planId, patient_id: patientId });
    if (!plan) {
      sendEnvelopeError(req, res, 404, { type: 'not_found', message: MSG.carePlanNotFound });
      return undefined;
    }
    const { userId, clientId } = req.auth!;
    if (clientId && plan.managing_organization.identifier.value === clientId) return plan;
    const employees = clientId ? await activeEmployees(ctx, await partyOfUser(ctx, userId), clientId) : [];
    if (await hasApproval(ctx, patientId, plan._id, employees, 'read')) return plan;
    // Another legal entity's plan without an approval: answered like a plan that does not exist.
    sendEnvelopeError(req, res, 404, { type: 'not_found', message: MSG.carePlanNotFound });
    return undefined;
  }

  // ---- care plans ----

  router.post('/api/patients/:patient_id/care_plans', write, async (req, res) => {
    const patientId = String(req.params.patient_id);
    const { userId, clientId } = req.auth!;
    const patient = await ctx.registries.get('patients', patientId);
    if (!patient) return sendEnvelopeError(req, res, 404, { type: 'not_found', message: MSG.patientNotFound });
    const { refusal, legalEntity } = await checkLegalEntity(ctx, clientId);
    if (refusal) return sendEnvelopeError(req, res, refusal.status, { type: refusal.type, message: refusal.message });
    if (patient.status !== 'active') return sendEnvelopeError(req, res, 409, { type: 'request_conflict', message: MSG.personNotActive });
    const failed = validateWith(validateCarePlan, req.body);
    if (failed) return sendEnvelopeError(req, res, 422, failed as unknown as Record<string, unknown>);
    const input = req.body as CarePlanInput;

    const invalid: InvalidEntry[] = [];
    const bad = (entry: string, description: string, rule = 'invalid') =>
      invalid.push({ entry_type: 'json_data_property', entry, rules: [{ rule, params: [], description }] });
    if (input.period.end && input.period.end < input.period.start) bad('$.period.end', 'end must not be before start');
    for (const [i, c] of input.addresses.entries()) {
      for (const [j, k] of c.coding.entries()) {
        if (!(await ctx.dictionaries.isValidCode(k.system, k.code))) bad(`$.addresses[${i}].coding[${j}].code`, MSG.notInEnum, 'inclusion');
      }
    }
    for (const [j, k] of input.terms_of_service.coding.entries()) {
      if (!(await ctx.dictionaries.isValidCode('PROVIDING_CONDITIONS', k.code))) bad(`$.terms_of_service.coding[${j}].code`, MSG.notInEnum, 'inclusion');
    }
    for (const [j, k] of input.category.coding.entries()) {
      if (!(await ctx.dictionaries.isValidCode(k.system, k.code))) bad(`$.category.coding[${j}].code`, MSG.notInEnum, 'inclusion');
    }
    if (invalid.length) return sendEnvelopeError(req, res, 422, validationFailed(invalid) as unknown as Record<string, unknown>);

    const employees = await activeEmployees(ctx, await partyOfUser(ctx, userId), clientId!);
    if (!employees.some((e) => e.id === input.author.identifier.value)) {
      return sendEnvelopeError(req, res, 409, { type: 'request_conflict', message: MSG.employeeNotInMsp });
    }

    const doc = newCarePlanDoc(input, patientId, legalEntity!, userId);
    try {
      await carePlans(ctx).insertOne(doc);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // Same id again: idempotent when it is the same patient's plan (a retried request), else a conflict.
      const existing = await carePlans(ctx).findOne({ _id: doc._id });
      // …and of the same legal entity: another one must not learn a plan by re-posting its id.
      if (!existing || existing.patient_id !== patientId || existing.managing_organization.identifier.value !== clientId) {
        return sendEnvelopeError(req, res, 409, { type: 'request_conflict', message: 'Care plan with such id already exists' });
      }
      await syncFhirCarePlan(ctx, existing._id);
      return sendData(req, res, 200, carePlanView(existing));
    }
    await syncFhirCarePlan(ctx, doc._id);
    log().info({ carePlanId: doc._id }, 'care plan created');
    sendData(req, res, 201, carePlanView(doc));
  });

  router.get('/api/patients/:patient_id/care_plans', read, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const invalid: [string, string][] = [];
    const { page, pageSize } = paging(q, invalid);
    const status = singleString(q.status);
    if (q.status !== undefined && !(CARE_PLAN_STATUSES as readonly string[]).includes(status ?? '')) invalid.push(['$.status', MSG.notInEnum]);
    if (invalid.length) return sendEnvelopeError(req, res, 422, queryInvalid(invalid));
    const { userId, clientId } = req.auth!;
    const patientId = String(req.params.patient_id);
    // Plans of the token's legal entity, plus those an approval lets the user's employees read.
    const employees = clientId ? await activeEmployees(ctx, await partyOfUser(ctx, userId), clientId) : [];
    const approvals = employees.length
      ? await ctx.registries.find('approvals', { patient_id: patientId, granted_to: { $in: employees.map((e) => e.id) }, status: 'active' })
      : [];
    const now = new Date();
    const approvedIds = approvals
      .filter((a) => !a.expires_at || new Date(a.expires_at) > now)
      .flatMap((a) => a.granted_resources.filter((r) => r.resource_type === 'care_plan').map((r) => r.id));
    const filter: Filter<CarePlanDoc> = {
      patient_id: patientId,
      $or: [{ 'managing_organization.identifier.value': clientId ?? '' }, { _id: { $in: approvedIds } }],
    };
    if (status) filter.status = status as CarePlanDoc['status'];
    const [rows, total] = await Promise.all([
      carePlans(ctx).find(filter).sort({ inserted_at: -1, _id: 1 }).skip((page - 1) * pageSize).limit(pageSize).toArray(),
      carePlans(ctx).countDocuments(filter),
    ]);
    sendData(req, res, 200, rows.map(carePlanView), {
      paging: { page_number: page, page_size: pageSize, total_entries: total, total_pages: Math.ceil(total / pageSize) },
    });
  });

  router.get('/api/patients/:patient_id/care_plans/:id', read, async (req, res) => {
    const plan = await readablePlan(req, res, String(req.params.id));
    if (plan) sendData(req, res, 200, carePlanView(plan));
  });

  // ---- activities ----

  router.post('/api/patients/:patient_id/care_plans/:care_plan_id/activities', write, async (req, res) => {
    const { userId, clientId } = req.auth!;
    const patientId = String(req.params.patient_id);
    const carePlanId = String(req.params.care_plan_id);
    const refusal = await runRequestChecks({ ctx, userId, clientId, patientId, carePlanId });
    if (refusal) {
      log().info({ status: refusal.status }, 'care plan activity request refused');
      return sendEnvelopeError(req, res, refusal.status, { type: refusal.type, message: refusal.message });
    }
    const failed = validateWith(validateSignedRequest, req.body);
    if (failed) return sendEnvelopeError(req, res, 422, failed as unknown as Record<string, unknown>);

    const data: CreateActivityJobData = {
      patient_id: patientId,
      care_plan_id: carePlanId,
      user_id: userId,
      client_id: clientId!,
      signed_data: (req.body as { signed_data: string }).signed_data,
    };
    const { id, existing, job } = await ctx.jobs.enqueue(CREATE_ACTIVITY_JOB, data, { hash: requestHash(data), owner: { userId, clientId } });
    const view = clientJobView(job);
    if (existing) {
      // As in the eHealth services: an identical request while its job is pending gets that job's details (200).
      return sendData(req, res, 200, view.data);
    }
    res.setHeader('Location', `/api/jobs/${id}`);
    sendData(req, res, 202, view.data);
  });

  router.get('/api/patients/:patient_id/care_plans/:care_plan_id/activities', read, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const invalid: [string, string][] = [];
    const { page, pageSize } = paging(q, invalid);
    const author = singleString(q.author);
    const kind = singleString(q.kind);
    const status = singleString(q.status);
    if (q.author !== undefined && !author) invalid.push(['$.author', 'expected a single value']);
    if (q.kind !== undefined && !['service_request', 'medication_request', 'device_request'].includes(kind ?? '')) invalid.push(['$.kind', MSG.notInEnum]);
    if (q.status !== undefined && !(ACTIVITY_STATUSES as readonly string[]).includes(status ?? '')) invalid.push(['$.status', MSG.notInEnum]);
    if (invalid.length) return sendEnvelopeError(req, res, 422, queryInvalid(invalid));
    const plan = await readablePlan(req, res, String(req.params.care_plan_id));
    if (!plan) return;
    const filter: Filter<ActivityDoc> = { care_plan_id: plan._id };
    if (author) filter['author.identifier.value'] = author;
    if (kind) filter['detail.kind'] = kind as ActivityDoc['detail']['kind'];
    if (status) filter['detail.status'] = status as ActivityDoc['detail']['status'];
    const [rows, total] = await Promise.all([
      activities(ctx).find(filter).sort({ inserted_at: 1, _id: 1 }).skip((page - 1) * pageSize).limit(pageSize).toArray(),
      activities(ctx).countDocuments(filter),
    ]);
    sendData(req, res, 200, rows.map(activityView), {
      paging: { page_number: page, page_size: pageSize, total_entries: total, total_pages: Math.ceil(total / pageSize) },
    });
  });

  async function readableActivity(req: Request, res: Response): Promise<ActivityDoc | undefined> {
    const plan = await readablePlan(req, res, String(req.params.care_plan_id));
    if (!plan) return undefined;
    const activity = await activities(ctx).findOne({ _id: String(req.params.id), care_plan_id: plan._id });
    if (!activity) sendEnvelopeError(req, res, 404, { type: 'not_found', message: 'Care plan activity not found' });
    return activity ?? undefined;
  }

  router.get('/api/patients/:patient_id/care_plans/:care_plan_id/activities/:id', read, async (req, res) => {
    const activity = await readableActivity(req, res);
    if (activity) sendData(req, res, 200, activityView(activity));
  });

  router.get('/api/patients/:patient_id/care_plans/:care_plan_id/activities/:id/signed_content', read, async (req, res) => {
    const activity = await readableActivity(req, res);
    if (!activity) return;
    const media = await ctx.media.get(activity.signed_content_links[0] ?? mediaKeyOf(activity._id));
    if (!media) return sendEnvelopeError(req, res, 404, { type: 'not_found', message: 'Signed content not found' });
    res.setHeader('Content-Type', media.contentType);
    res.setHeader('Digest', `sha-256=${Buffer.from(media.sha256, 'hex').toString('base64')}`);
    res.setHeader('Content-Disposition', `attachment; filename="${activity._id}.p7s"`);
    res.status(200).end(media.bytes);
  });

  // Errors thrown by these routes keep the eHealth envelope ({meta, error}).
  router.use('/api/patients', ((err, req, res, next) => {
    if (res.headersSent) return next(err);
    // A client's error (an undecodable body, a 4xx raised below) keeps its status; 500 only for our faults.
    const client = clientError(err);
    if (client) return sendEnvelopeError(req, res, client.status, { type: client.type, message: client.message });
    log().error({ err }, 'care plan route failed');
    sendEnvelopeError(req, res, 500, { type: 'internal_error', message: 'Internal server error' });
  }) as ErrorRequestHandler);

  return router;
}
