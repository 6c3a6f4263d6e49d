/**
 * Jobs API.
 *   GET  /api/jobs/:id          scope job:read — the eHealth async-job contract (pending 200, processed 303 with links,
 *                               failed 200 with error); `?details=true` gives the operators' view.
 *   GET  /api/jobs              scope job:read — list with filters name, status, from, to; paging page/page_size.
 *   POST /api/jobs/:id/rerun    scope admin — runs a failed job again.
 * A token sees only its own legal entity's jobs (client_id); scope admin adds the engine's own (ownerless) jobs.
 * Support staff with scope support:cross_tenant read another legal entity's jobs by naming it in X-Target-Tenant
 * (audited, src/platform/tenancy/request-tenant.ts).
 */
import { Router, type Request } from 'express';
import type { JobRunner } from './job-runner.js';
import type { Authenticator } from '../platform/auth/middleware.js';
import type { OperatorAccessLog } from '../platform/tenancy/request-tenant.js';
import { sendData, sendEnvelopeError } from '../platform/http/envelope.js';
import { envelopeTenantErrors } from '../platform/http/errors.js';
import { ownedBy } from './job-runner.js';
import { clientJobView, detailedJobView, jobHref } from './job-view.js';
import { createAjv, validateWith } from '../platform/http/validation-error.js';
import { jobListQuerySchema } from './schemas.js';
import type { JobDocument, JobStatus } from './types.js';
import { isTenantId } from '../platform/tenancy/tenant.js';
import { TARGET_TENANT_HEADER, targetTenant } from '../platform/tenancy/request-tenant.js';

/** What the jobs API uses of the engine. */
interface JobRoutesDeps {
  /** Verifies bearer tokens. */
  readonly auth: Authenticator;
  /** Background jobs. */
  readonly jobs: JobRunner;
  /** Audit trail of support staff acting across tenants. */
  readonly operatorAccess: OperatorAccessLog;
}

interface Viewer {
  owner: { clientId?: string; userId: string };
  /** Also the engine's own jobs (no owner: schedules, start-up work). */
  system: boolean;
}

/** Whose jobs a request sees: its tenant's (or the one support staff name in X-Target-Tenant), its own user's. */
async function viewer(ctx: JobRoutesDeps, req: Request): Promise<Viewer> {
  const system = req.auth!.scopes.has('admin');
  if (req.headers[TARGET_TENANT_HEADER] !== undefined) {
    return { owner: { clientId: await targetTenant(req, ctx.operatorAccess), userId: req.auth!.userId }, system };
  }
  return { owner: { clientId: isTenantId(req.auth!.clientId) ? req.auth!.clientId : undefined, userId: req.auth!.userId }, system };
}

function visible(v: Viewer, job: JobDocument | undefined): job is JobDocument {
  if (!job) return false;
  return ownedBy(job, v.owner) || (v.system && job.owner?.clientId == null && job.owner?.userId == null);
}

function notFound(req: Request, res: import('express').Response): void {
  sendEnvelopeError(req, res, 404, { type: 'not_found', message: 'Job not found' });
}

export function jobsRouter(ctx: JobRoutesDeps): Router {
  const router = Router();
  const auth = ctx.auth.inEnvelope();

  router.get('/api/jobs/:id', auth.requireScopes('job:read'), async (req, res) => {
    const job = await ctx.jobs.get(String(req.params.id));
    if (!visible(await viewer(ctx, req), job)) return notFound(req, res);
    if (req.query.details === 'true') return sendData(req, res, 200, detailedJobView(job));
    const { httpStatus, data } = clientJobView(job);
    if (httpStatus === 303) {
      const first = (data.links as { href: string }[])[0];
      if (first) res.setHeader('Location', first.href);
    }
    sendData(req, res, httpStatus, data);
  });

  const validateListQuery = createAjv({ coerceTypes: true, useDefaults: true }).compile(jobListQuerySchema);
  router.get('/api/jobs', auth.requireScopes('job:read'), async (req, res) => {
    const q = { ...(req.query as Record<string, unknown>) };
    const invalid = validateWith(validateListQuery, q);
    if (invalid) return sendEnvelopeError(req, res, 422, { ...invalid });
    const { name, status, from, to, page, page_size: pageSize } = q as { name?: string; status?: JobStatus; from?: string; to?: string; page: number; page_size: number };
    const { jobs, total } = await ctx.jobs.list({
      name,
      status,
      from: from ? new Date(from) : undefined,
      to: to ? new Date(to) : undefined,
      viewer: await viewer(ctx, req),
      limit: pageSize,
      offset: (page - 1) * pageSize,
    });
    sendData(req, res, 200, jobs.map(detailedJobView), {
      paging: { page_number: page, page_size: pageSize, total_entries: total, total_pages: Math.ceil(total / pageSize) },
    });
  });

  router.post('/api/jobs/:id/rerun', auth.requireScopes('admin'), async (req, res) => {
    const id = String(req.params.id);
    const job = await ctx.jobs.get(id);
    if (!visible(await viewer(ctx, req), job)) return notFound(req, res);
    if (!(await ctx.jobs.rerun(job))) {
      return sendEnvelopeError(req, res, 409, { type: 'request_conflict', message: `Job is ${job.status}; only failed jobs can be re-run` });
    }
    sendData(req, res, 202, { status: 'pending', links: [{ entity: 'job', href: jobHref(id) }] });
  });

  // A token without a legal entity, or X-Target-Tenant without the support scope: 403 in the envelope too.
  router.use('/api/jobs', envelopeTenantErrors);

  return router;
}
