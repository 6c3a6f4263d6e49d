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
import { clientJobView, detailedJobView, jobHref } from './job-view.js';
import type { JobDocument, JobStatus } from './types.js';

const STATUSES: JobStatus[] = ['pending', 'processing', 'processed', 'failed'];

function visible(req: Request, job: JobDocument | undefined): job is JobDocument {
  if (!job) return false;
  if (req.auth!.scopes.has('admin')) return true;
  return !job.owner?.clientId || job.owner.clientId === req.auth!.clientId;
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

  router.get('/api/jobs', ctx.auth.requireScopes('job:read'), async (req, res) => {
    const invalid: { entry: string; description: string }[] = [];
    const q = req.query as Record<string, string | undefined>;
    const page = q.page === undefined ? 1 : Number(q.page);
    const pageSize = q.page_size === undefined ? 50 : Number(q.page_size);
    if (!Number.isInteger(page) || page < 1) invalid.push({ entry: '$.page', description: 'must be a positive integer' });
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 500) invalid.push({ entry: '$.page_size', description: 'must be an integer from 1 to 500' });
    if (q.status && !STATUSES.includes(q.status as JobStatus)) invalid.push({ entry: '$.status', description: `must be one of ${STATUSES.join(', ')}` });
    const from = q.from ? new Date(q.from) : undefined;
    const to = q.to ? new Date(q.to) : undefined;
    if (from && Number.isNaN(from.getTime())) invalid.push({ entry: '$.from', description: 'must be an ISO 8601 date' });
    if (to && Number.isNaN(to.getTime())) invalid.push({ entry: '$.to', description: 'must be an ISO 8601 date' });
    if (invalid.length) {
      return sendEnvelopeError(req, res, 422, {
        type: 'validation_failed',
        message: 'Validation failed',
        invalid: invalid.map((i) => ({ entry_type: 'query_parameter', entry: i.entry, rules: [{ rule: 'invalid', params: [], description: i.description }] })),
      });
    }
    const { jobs, total } = await ctx.jobs.list({
      name: q.name,
      status: q.status as JobStatus | undefined,
      from,
      to,
      clientId: req.auth!.scopes.has('admin') ? undefined : req.auth!.clientId ?? '',
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
    if (!(await ctx.jobs.rerun(id))) {
      return sendEnvelopeError(req, res, 409, { type: 'request_conflict', message: `Job is ${job.status}; only failed jobs can be re-run` });
    }
    sendData(req, res, 202, { status: 'pending', links: [{ entity: 'job', href: jobHref(id) }] });
  });

  return router;
}
