import type { OpenApiFragment } from './openapi-fragment.js';

/** Health, readiness, metrics and the operators' dashboard. */
export const operationsOpenApi: OpenApiFragment = {
  tags: [{ name: 'operations', description: 'Probes, metrics and operator pages' }],
  paths: {
    '/healthz': { get: { tags: ['operations'], summary: 'Process up', responses: { 200: { description: '{"status":"ok"}' } } } },
    '/readyz': {
      get: {
        tags: ['operations'],
        summary: 'Database reachable',
        responses: { 200: { description: '{"status":"ready"}' }, 503: { description: 'Database unreachable or shutting down' } },
      },
    },
    '/metrics': { get: { tags: ['operations'], summary: 'Prometheus metrics', responses: { 200: { description: 'text/plain; version=0.0.4', content: { 'text/plain': {} } } } } },
    '/admin/jobs/': {
      get: {
        tags: ['operations'],
        summary: 'Agendash (Agenda dashboard): bearer token with scope admin, or basic auth (ADMIN_USERNAME/ADMIN_PASSWORD)',
        security: [{ bearer: ['admin'] }, { basic: [] }],
        responses: { 200: { description: 'HTML' }, 401: { description: 'Credentials required (Basic challenge)' }, 403: { description: 'Token without scope admin' } },
      },
    },
    '/admin/queue': {
      get: {
        tags: ['operations'],
        summary: "Supervisor page: a tenant's open consultation queue, updated live (?tenant=<id>; HTML)",
        security: [{ bearer: ['admin', 'support:cross_tenant'] }, { basic: [] }],
        parameters: [{ name: 'tenant', in: 'query', schema: { type: 'string' } }],
        responses: { 200: { description: 'HTML' }, 401: { description: 'Credentials required (Basic challenge)' }, 403: { description: 'Token without scopes admin and support:cross_tenant' } },
      },
    },
    '/admin/queue/data': {
      get: {
        tags: ['operations'],
        summary: "The supervisor page's data: {last_event_id, consultations} (open states) of the tenant; recorded in the operator access log",
        security: [{ bearer: ['admin', 'support:cross_tenant'] }, { basic: [] }],
        parameters: [{ name: 'tenant', in: 'query', required: true, schema: { type: 'string' } }],
        responses: { 200: { description: 'JSON' }, 401: { description: 'Credentials required' }, 403: { description: 'Missing scopes' }, 422: { description: 'No or malformed tenant' } },
      },
    },
    '/admin/queue/events': {
      get: {
        tags: ['operations'],
        summary: "The supervisor page's stream: the tenant's consultation events after ?after= or Last-Event-ID (as GET /api/consultations/events)",
        security: [{ bearer: ['admin', 'support:cross_tenant'] }, { basic: [] }],
        parameters: [
          { name: 'tenant', in: 'query', required: true, schema: { type: 'string' } },
          { name: 'after', in: 'query', schema: { type: 'integer', minimum: 0 } },
        ],
        responses: {
          200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          401: { description: 'Credentials required' },
          403: { description: 'Missing scopes' },
          422: { description: 'No or malformed tenant, or an invalid position' },
        },
      },
    },
    '/api/openapi.json': { get: { tags: ['operations'], summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } } },
  },
};
