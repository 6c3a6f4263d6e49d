import { Router } from 'express';
import { createExpressMiddleware } from 'agendash';
import type { AppContext } from '../http/context.js';
import { requireAdmin } from './admin-auth.js';

/** Agendash (the Agenda dashboard) at /admin/jobs, for operators only. */
export function agendashRouter(ctx: AppContext): Router {
  const router = Router();
  router.use('/admin/jobs', requireAdmin(ctx), createExpressMiddleware(ctx.jobs.agenda));
  return router;
}
