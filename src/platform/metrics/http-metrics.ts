import type { RequestHandler } from 'express';
import { routePattern } from '../http/request-context.js';
import { httpDuration, httpRequests } from './registry.js';

/** Counts requests by route pattern (not the raw path: ids would explode the label set), method and status. */
export function httpMetrics(): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const route = routePattern(req);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      httpDuration.observe({ method: req.method, route }, seconds);
    });
    next();
  };
}
