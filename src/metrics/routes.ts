import { Router } from 'express';
import type { AppContext } from '../http/context.js';
import { metricsRegistry } from './registry.js';

/**
 * GET /metrics in Prometheus text format: HTTP requests, ingest counts, job runs, queue depth, DB latency and the
 * process defaults. No personal data is ever a label. Meant for the operators' network (no token).
 */
export function metricsRouter(ctx: AppContext): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    await ctx.jobs.refreshQueueMetrics().catch(() => {});
    res.setHeader('Content-Type', metricsRegistry.contentType);
    res.send(await metricsRegistry.metrics());
  });
  return router;
}
