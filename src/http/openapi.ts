import type { OpenApiFragment } from '../openapi/fragment.js';

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
    '/api/openapi.json': { get: { tags: ['operations'], summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } } },
  },
};
