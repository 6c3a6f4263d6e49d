/** The mapping versions API in the OpenAPI document. */
import { envelope, errorResponses, jsonContent, type OpenApiFragment } from '../platform/http/openapi-fragment.js';
import { mappingSwitchSchema } from './routes.js';

const installed = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    sha256: { type: 'string', description: 'Hash of the mapping expression' },
    current: { type: 'boolean', description: 'This version maps new messages and replays' },
  },
  required: ['name', 'version', 'sha256', 'current'],
};

export const mappingsOpenApi: OpenApiFragment = {
  tags: [{ name: 'mappings', description: 'Mapping versions loaded side by side; which one is current (installation-wide)' }],
  schemas: { InstalledMapping: installed, MappingSwitch: mappingSwitchSchema },
  paths: {
    '/api/mappings': {
      get: {
        tags: ['mappings'],
        summary: 'Every installed version of every mapping, the current one of each marked',
        security: [{ bearer: ['admin'] }],
        responses: { 200: { description: 'The installed mappings', content: jsonContent(envelope({ type: 'array', items: { $ref: '#/components/schemas/InstalledMapping' } })) }, ...errorResponses },
      },
    },
    '/api/mappings/{name}/current': {
      put: {
        tags: ['mappings'],
        summary: 'Make an installed version the current one (every engine process follows within MAPPING_SELECTION_CACHE_MS, no restart)',
        security: [{ bearer: ['admin'] }],
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'Mapping name, e.g. henvisning-v2.0' }],
        requestBody: { required: true, content: jsonContent({ $ref: '#/components/schemas/MappingSwitch' }) },
        responses: {
          200: { description: 'Switched: data {name, version, selected_at, selected_by}' },
          404: { description: 'No mapping of that name is installed' },
          422: { description: 'validation_failed: no version, or one not installed ($.version)' },
          ...errorResponses,
        },
      },
    },
  },
};
