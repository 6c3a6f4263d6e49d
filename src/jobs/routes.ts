/**
 * Jobs API.
 *   GET  /api/jobs/:id          scope job:read — the eHealth async-job contract (pending 200, processed 303 with links,
 *                               failed 200 with error); `?details=true` gives the operators' view.
 *   GET  /api/jobs              scope job:read — list with filters name, status, from, to; paging page/page_size.
 *   POST /api/jobs/:id/rerun    scope admin — runs a failed job again.
 * A token sees only its own legal entity's jobs (client_id) unless it has scope admin.
 */
import { Router, type Request } from 'express';
import type { AppContext } from '../http/context.js';
import { sendData, sendEnvelopeError } from '../http/envelope.js';
import { ownedBy } from './job-runner.js';
import { clientJobView, detailedJobView, jobHref } from './job-view.js';
import { createAjv, validateWith } from '../ehealth/validation.js';
import { jobListQuerySchema } from './schemas.js';
import type { JobDocument, JobStatus } from './types.js';

function requester(req: Request): { clientId?: string; userId: string } | undefined {
  return req.auth!.scopes.has('admin') ? undefined : { clientId: req.auth!.clientId, userId: req.auth!.userId };
}

function visible(req: Request, job: JobDocument | undefined): job is JobDocument {
  if (!job) return false;
  const owner = requester(req);
  return owner === undefined || ownedBy(job, owner);
}

function notFound(req: Request, res: import('express').Response): void {
  sendEnvelopeError(req, res, 404, { type: 'not_found', message: 'Job not found' });
}

export function jobsRouter(ctx: AppContext): Router {
  const router = Router();

  router.get('/api/jobs/:id', ctx.auth.requireScopes('job:read'), async (req, res) => {
    const job = await ctx.jobs.get(String(req.params.id));
    if (!visible(req, job)) return notFound(req, res);
    if (req.query.details === 'true') return sendData(req, res, 200, detailedJobView(job));
    const { httpStatus, data } = clientJobView(job);
    if (httpStatus === 303) {
      const first = (data.links as { href: string }[])[0];
      if (first) res.setHeader('Location', first.href);
    }
    sendData(req, res, httpStatus, data);
  });

  const validateListQuery = createAjv({ coerceTypes: true, useDefaults: true }).compile(jobListQuerySchema);
  router.get('/api/jobs', ctx.auth.requireScopes('job:read'), async (req, res) => {
    const q = { ...(req.query as Record<string, unknown>) };
    const invalid = validateWith(validateListQuery, q);
    if (invalid) return sendEnvelopeError(req, res, 422, { ...invalid });
    const { name, status, from, to, page, page_size: pageSize } = q as { name?: string; status?: JobStatus; from?: string; to?: string; page: number; page_size: number };
    const { jobs, total } = await ctx.jobs.list({
      name,
      status,
      from: from ? new Date(from) : undefined,
      to: to ? new Date(to) : undefined,
      owner: requester(req),
      limit: pageSize,
      offset: (page - 1) * pageSize,
    });
    sendData(req, res, 200, jobs.map(detailedJobView), {
      paging: { page_number: page, page_size: pageSize, total_entries: total, total_pages: Math.ceil(total / pageSize) },
    });
  });

  router.post('/api/jobs/:id/rerun', ctx.auth.requireScopes('admin'), async (req, res) => {
    const id = String(req.params.id);
    const job = await ctx.jobs.get(id);
    if (!job) return notFound(req, res);
    if (!(await ctx.jobs.rerun(job))) {
      return sendEnvelopeError(req, res, 409, { type: 'request_conflict', message: `Job is ${job.status}; only failed jobs can be re-run` });
    }
    sendData(req, res, 202, { status: 'pending', links: [{ entity: 'job', href: jobHref(id) }] });
  });

  return router;
}
