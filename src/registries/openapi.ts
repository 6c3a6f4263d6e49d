/** OpenAPI fragment of the registry admin routes (record schemas as validated). */
import { errorResponses, jsonContent, type OpenApiFragment, envelope } from '../platform/http/openapi-fragment.js';
import { registryDefinitions } from './definitions.js';

const nameParam = { name: 'name', in: 'path', required: true, schema: { enum: registryDefinitions.map((d) => d.name) } };
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const schemaName = (n: string) => `Registry_${n}`;
const anyRecord = { oneOf: registryDefinitions.map((d) => ({ $ref: `#/components/schemas/${schemaName(d.name)}` })) };

export const registriesOpenApi: OpenApiFragment = {
  tags: [{ name: 'registries', description: 'Registries the care plan rules read (see README "Care plan activities")' }],
  schemas: Object.fromEntries(registryDefinitions.map((d) => [schemaName(d.name), d.schema])),
  paths: {
    '/api/registries': {
      get: {
        tags: ['registries'],
        summary: 'Registries with their record counts',
        security: [{ bearer: ['registries:read'] }, { bearer: ['registries:write'] }],
        responses: { 200: { description: 'Names, descriptions, counts', content: jsonContent(envelope({ type: 'array' })) }, ...errorResponses },
      },
    },
    '/api/registries/{name}': {
      get: {
        tags: ['registries'],
        summary: 'Records of a registry (paged; filters per registry, e.g. legal_entity_id, patient_id)',
        security: [{ bearer: ['registries:read'] }, { bearer: ['registries:write'] }],
        parameters: [nameParam, { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1 } }, { name: 'page_size', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500 } }],
        responses: { 200: { description: 'A page', content: jsonContent(envelope({ type: 'array', items: anyRecord })) }, 404: { description: 'Unknown registry' }, 422: { description: 'Bad query' }, ...errorResponses },
      },
      post: {
        tags: ['registries'],
        summary: 'Bulk upsert (array or {"data": [...]}); nothing is written when any record is invalid',
        security: [{ bearer: ['registries:write'] }],
        parameters: [nameParam],
        requestBody: { required: true, content: jsonContent({ oneOf: [{ type: 'array', items: anyRecord }, { type: 'object', properties: { data: { type: 'array', items: anyRecord } }, required: ['data'] }] }) },
        responses: { 200: { description: '{inserted, updated, unchanged}' }, 422: { description: 'validation_failed ($[i].field entries)' }, ...errorResponses },
      },
    },
    '/api/registries/{name}/{id}': {
      get: {
        tags: ['registries'],
        summary: 'One record',
        security: [{ bearer: ['registries:read'] }, { bearer: ['registries:write'] }],
        parameters: [nameParam, idParam],
        responses: { 200: { description: 'The record', content: jsonContent(envelope(anyRecord)) }, 404: { description: 'Not found' }, ...errorResponses },
      },
      put: {
        tags: ['registries'],
        summary: 'Create (201) or replace (200) one record',
        security: [{ bearer: ['registries:write'] }],
        parameters: [nameParam, idParam],
        requestBody: { required: true, content: jsonContent(anyRecord) },
        responses: { 200: { description: 'Replaced' }, 201: { description: 'Created' }, 422: { description: 'validation_failed' }, ...errorResponses },
      },
      delete: {
        tags: ['registries'],
        summary: 'Delete one record',
        security: [{ bearer: ['registries:write'] }],
        parameters: [nameParam, idParam],
        responses: { 204: { description: 'Deleted' }, 404: { description: 'Not found' }, ...errorResponses },
      },
    },
  },
};
