/**
 * The engine's Prometheus registry (prom-client) and the metrics shared by several concerns.
 * Concerns register their own metrics on `metricsRegistry`; GET /metrics serves it.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

export const httpRequests = new Counter({
  name: 'http_requests_total',
  help: 'HTTP requests by route, method and status',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [metricsRegistry],
});

export const httpDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request duration by route and method',
  labelNames: ['method', 'route'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [metricsRegistry],
});

export const ingestMessages = new Counter({
  name: 'ingest_messages_total',
  help: 'Inbound messages by source and outcome (processed, failed, rejected, duplicate)',
  labelNames: ['source', 'outcome'] as const,
  registers: [metricsRegistry],
});

export const jobRuns = new Counter({
  name: 'job_runs_total',
  help: 'Background job runs by job name and outcome (processed, failed, retry)',
  labelNames: ['name', 'outcome'] as const,
  registers: [metricsRegistry],
});

export const jobQueueDepth = new Gauge({
  name: 'job_queue_depth',
  help: 'Jobs waiting or running, by job name and status',
  labelNames: ['name', 'status'] as const,
  registers: [metricsRegistry],
});

export const dbLatency = new Histogram({
  name: 'db_command_duration_seconds',
  help: 'MongoDB command duration by command name',
  labelNames: ['command'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  registers: [metricsRegistry],
});
