import { Router } from 'express';
import { createExpressMiddleware } from 'agendash';
import type { JobRunner } from './job-runner.js';
import { requireAdmin, type AdminAuthDeps } from '../platform/auth/admin-auth.js';

/** What the operators' job board uses of the engine. */
interface AgendashDeps extends AdminAuthDeps {
  /** Background jobs. */
  readonly jobs: JobRunner;
}

/** Agendash (the Agenda dashboard) at /admin/jobs, for operators only. */
export function agendashRouter(ctx: AgendashDeps): Router {
  const router = Router();
  router.use('/admin/jobs', requireAdmin(ctx), createExpressMiddleware(ctx.jobs.agenda));
  return router;
}
