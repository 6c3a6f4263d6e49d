/**
 * The OpenAPI 3.1 document of every non-FHIR route (the FHIR API describes itself in its CapabilityStatement),
 * assembled from each concern's fragment. Request schemas in the fragments are the ones the routes validate with.
 */
import { operationsOpenApi } from '../platform/http/openapi.js';
import { jobsOpenApi } from '../jobs/openapi.js';
import { carePlansOpenApi } from '../careplans/openapi.js';
import { registriesOpenApi } from '../registries/openapi.js';
import { billingOpenApi } from '../billing/openapi.js';
import { consultationsOpenApi } from '../consultations/openapi.js';
import { liveQueueOpenApi } from '../consultations/live-queue-openapi.js';
import { dictionariesOpenApi } from '../dictionaries/openapi.js';
import { ingestOpenApi } from '../ingest/openapi.js';
import { mappingsOpenApi } from '../mapping/openapi.js';
import type { OpenApiFragment } from '../platform/http/openapi-fragment.js';
import { ERROR_TYPE_NAMES } from '../platform/http/error-types.js';

export const fragments: OpenApiFragment[] = [operationsOpenApi, jobsOpenApi, consultationsOpenApi, liveQueueOpenApi, billingOpenApi, dictionariesOpenApi, ingestOpenApi, mappingsOpenApi, registriesOpenApi, carePlansOpenApi];

export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const meta = {
    type: 'object',
    properties: { code: { type: 'integer' }, url: { type: 'string' }, type: { enum: ['object', 'list'] }, request_id: { type: 'string' } },
    required: ['code', 'url', 'type', 'request_id'],
  };
  const schemas: Record<string, unknown> = {
    Error: {
      type: 'object',
      description: 'Every /api error. `error.type` is one of the stable types of docs/errors.md.',
      properties: {
        meta,
        error: {
          type: 'object',
          properties: { type: { enum: ERROR_TYPE_NAMES }, message: { type: 'string' }, invalid: { type: 'array' } },
          required: ['type', 'message'],
        },
      },
      required: ['error'],
    },
    Meta: meta,
  };
  const tags: { name: string; description: string }[] = [];
  for (const f of fragments) {
    for (const [p, item] of Object.entries(f.paths)) paths[p] = { ...(paths[p] ?? {}), ...item };
    Object.assign(schemas, f.schemas ?? {});
    tags.push(...(f.tags ?? []));
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'HL7 / FHIR integration engine',
      version,
      description: 'Non-FHIR routes of the engine. The FHIR R4 API is under /fhir (see /fhir/metadata).',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    tags,
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Claims: sub (user), client_id (legal entity), scope (space-separated)' },
        basic: { type: 'http', scheme: 'basic', description: "Operators' pages only" },
      },
    },
  };
}
