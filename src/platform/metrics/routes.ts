import { Router } from 'express';
import { metricsRegistry } from './registry.js';

/**
 * GET /metrics in Prometheus text format: HTTP requests, ingest counts, job runs, queue depth, DB latency and the
 * process defaults. No personal data is ever a label. Meant for the operators' network (no token).
 */
interface MetricsRoutesDeps {
  /** Brings gauges that are read from the database (the job queue depth) up to date before a scrape. */
  refreshBeforeScrape(): Promise<void>;
}

export function metricsRouter(deps: MetricsRoutesDeps): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    await deps.refreshBeforeScrape().catch(() => {});
    res.setHeader('Content-Type', metricsRegistry.contentType);
    res.send(await metricsRegistry.metrics());
  });
  return router;
}
