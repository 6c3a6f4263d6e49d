/**
 * How a job is shown to clients: the Ukrainian eHealth async-job contract (GET /api/jobs/{id}) and the operators'
 * detailed view.
 */
import type { JobDocument } from './types.js';

export function jobHref(id: string): string {
  return `/api/jobs/${id}`;
}

/** The eHealth job contract: returns the HTTP status and the `data` object. */
export function clientJobView(job: JobDocument): { httpStatus: number; data: Record<string, unknown> } {
  const id = job._id.toHexString();
  const eta = job.eta.toISOString();
  switch (job.status) {
    case 'pending':
    case 'processing':
      return { httpStatus: 200, data: { eta, status: 'pending', links: [{ entity: 'job', href: jobHref(id) }] } };
    case 'processed':
      if (job.response?.response_data != null) {
        // A result with a summary and a document to fetch (a replay preview's report) answers both.
        const links = job.response.links?.length ? { links: job.response.links } : {};
        return { httpStatus: 200, data: { eta, status: 'processed', status_code: job.status_code, response_data: job.response.response_data, ...links } };
      }
      return { httpStatus: 303, data: { eta, status: 'processed', status_code: job.status_code, links: job.response?.links ?? [] } };
    case 'failed': {
      const stored = job.error;
      const message = typeof stored === 'string' ? stored : String((stored as { message?: unknown })?.message ?? 'Job failed');
      let error: unknown = stored;
      if (job.status_code === 409) error = { type: 'request_conflict', message };
      else if (job.status_code === 500) error = { type: 'internal_error', message };
      else if (typeof stored === 'string') error = { message: stored };
      return { httpStatus: 200, data: { eta, status: 'failed', status_code: job.status_code, error } };
    }
  }
}

/** Operators' view: the real status (processing included), timestamps, attempts, progress, result or error. */
export function detailedJobView(job: JobDocument): Record<string, unknown> {
  return {
    id: job._id.toHexString(),
    name: job.name,
    status: job.status,
    status_code: job.status_code,
    eta: job.eta.toISOString(),
    attempts: job.attempts,
    max_attempts: job.max_attempts,
    progress: job.progress,
    inserted_at: job.inserted_at.toISOString(),
    updated_at: job.updated_at.toISOString(),
    started_at: job.started_at?.toISOString(),
    finished_at: job.finished_at?.toISOString(),
    result: job.status === 'processed' ? job.response : undefined,
    error: job.status === 'failed' ? job.error : undefined,
    last_error: job.last_error,
  };
}
