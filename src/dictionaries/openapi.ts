/** The dictionaries admin API in the OpenAPI document (/api/openapi.json). */
import { errorResponses, jsonContent, type OpenApiFragment, envelope } from '../platform/http/openapi-fragment.js';
import { dictionarySchema } from './schema.js';

const CUSTOM = new Set(['knownLanguage', 'regexSyntax', 'dictionaryIntegrity', '$id']);

/** The validation schema without ajv's custom keywords (they are checked by the route, described in the text). */
function plain(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(plain);
  if (schema && typeof schema === 'object') {
    return Object.fromEntries(Object.entries(schema).filter(([k]) => !CUSTOM.has(k)).map(([k, v]) => [k, plain(v)]));
  }
  return schema;
}


const name = {
  name: 'name',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'Dictionary name, URL-encoded (eHealth%2FICPC2%2Freasons); plain slashes work too. Reads also accept an alias.',
};
const code = { name: 'code', in: 'path', required: true, schema: { type: 'string' } };
const dryRun = { name: 'dry_run', in: 'query', required: false, schema: { type: 'boolean' }, description: 'true: answer the diff, change nothing' };
const ifMatch = { name: 'If-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'The revision the change is based on, e.g. "3" (409 otherwise)' };

const file = plain(dictionarySchema) as { properties: Record<string, { items?: unknown }> };
const codeSchema = file.properties.codes.items;

// Component schemas compile on their own (no $ref between them).
const change = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    dry_run: { type: 'boolean' },
    changed: { type: 'boolean', description: 'false: equal to the current content, no new revision' },
    created: { type: 'boolean' },
    from_revision: { type: ['integer', 'null'] },
    revision: { type: ['integer', 'null'], description: 'null on a dry run' },
    rolled_back_to: { type: 'integer' },
    diff: {
      type: 'object',
      properties: {
        summary: {
          type: 'object',
          properties: {
            added: { type: 'integer' },
            removed: { type: 'integer' },
            changed: { type: 'integer' },
            unchanged: { type: 'integer' },
            meta_changed: { type: 'array', items: { type: 'string' } },
          },
        },
        added: { type: 'array', items: codeSchema },
        removed: { type: 'array', items: codeSchema },
        changed: {
          type: 'array',
          items: {
            type: 'object',
            properties: { code: { type: 'string' }, fields: { type: 'array', items: { type: 'string' } }, before: codeSchema, after: codeSchema },
          },
        },
        truncated: { type: 'boolean' },
      },
    },
  },
};

const bad = {
  400: { description: 'request_malformed: not JSON/CSV, empty, or not in its charset', content: jsonContent({ $ref: '#/components/schemas/Error' }) },
  404: { description: 'Unknown dictionary, code or revision' },
  409: { description: 'request_conflict: changed concurrently, If-Match mismatch, nothing to roll back to, alias in use' },
  413: { description: 'Body larger than DICTIONARY_UPLOAD_LIMIT' },
  415: { description: 'Not JSON or CSV, or an unsupported charset' },
  422: { description: 'validation_failed with invalid entries ($.codes[3].code, or "line 4 (code)" for CSV)', content: jsonContent({ $ref: '#/components/schemas/Error' }) },
};

export const dictionariesOpenApi: OpenApiFragment = {
  tags: [{ name: 'dictionaries', description: 'Code lists: list, read, replace (JSON or CSV), dry run, rollback, deactivate' }],
  schemas: {
    Dictionary: { ...file, description: 'The dictionary file format (README "Dictionaries"): unique codes, non-blank displays, known language tags' },
    DictionaryCode: codeSchema,
    DictionaryChange: change,
  },
  paths: {
    '/api/dictionaries': {
      get: {
        tags: ['dictionaries'],
        summary: 'All dictionaries with revision, version, counts and kept versions',
        security: [{ bearer: ['dictionaries:read'] }],
        responses: { 200: { description: 'The list', content: jsonContent(envelope({ type: 'array', items: { type: 'object' } })) }, ...errorResponses },
      },
    },
    '/api/dictionaries/{name}': {
      get: {
        tags: ['dictionaries'],
        summary: 'Metadata and codes (paged; search by code prefix or display)',
        security: [{ bearer: ['dictionaries:read'] }],
        parameters: [
          name,
          { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1 } },
          { name: 'page_size', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
          { name: 'search', in: 'query', schema: { type: 'string' } },
          { name: 'code', in: 'query', schema: { type: 'string' } },
          { name: 'active', in: 'query', schema: { type: 'boolean' } },
        ],
        responses: { 200: { description: 'The dictionary; ETag "<revision>"' }, 404: bad[404], 422: bad[422], ...errorResponses },
      },
      put: {
        tags: ['dictionaries'],
        summary: 'Replace (or create) the whole dictionary from JSON or CSV; old version kept',
        security: [{ bearer: ['dictionaries:write'] }],
        parameters: [
          name,
          dryRun,
          { name: 'missing', in: 'query', schema: { enum: ['remove', 'deactivate'] }, description: 'Codes missing from the upload' },
          { name: 'version', in: 'query', schema: { type: 'string' } },
          { name: 'language', in: 'query', schema: { type: 'string' }, description: 'Language of a plain display (CSV "display" column, JSON string display)' },
          { name: 'diff_limit', in: 'query', schema: { type: 'integer', minimum: 0 } },
          ifMatch,
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: { oneOf: [{ $ref: '#/components/schemas/Dictionary' }, { type: 'array', items: { $ref: '#/components/schemas/DictionaryCode' } }] } },
            'text/csv': { schema: { type: 'string', description: 'Header: code, display | display_<lang>, definition_<lang>, active, parent, declared properties; "," ";" or tab; charset= declared unless UTF-8' } },
          },
        },
        responses: {
          200: { description: 'Replaced (or unchanged, or the dry-run diff)', content: jsonContent(envelope({ $ref: '#/components/schemas/DictionaryChange' })) },
          201: { description: 'Created', content: jsonContent(envelope({ $ref: '#/components/schemas/DictionaryChange' })) },
          ...bad,
          ...errorResponses,
        },
      },
    },
    '/api/dictionaries/{name}/codes/{code}': {
      get: {
        tags: ['dictionaries'],
        summary: 'One code (normalised forms such as ICPC-2 K31 → -31 accepted)',
        security: [{ bearer: ['dictionaries:read'] }],
        parameters: [name, code],
        responses: { 200: { description: 'The code' }, 404: bad[404], ...errorResponses },
      },
      patch: {
        tags: ['dictionaries'],
        summary: 'Deactivate or reactivate one code: {"active": false}',
        security: [{ bearer: ['dictionaries:write'] }],
        parameters: [name, code, dryRun, ifMatch],
        requestBody: { required: true, content: jsonContent({ type: 'object', required: ['active'], additionalProperties: false, properties: { active: { type: 'boolean' } } }) },
        responses: { 200: { description: 'New revision (or unchanged)', content: jsonContent(envelope({ $ref: '#/components/schemas/DictionaryChange' })) }, 404: bad[404], 409: bad[409], 422: bad[422], ...errorResponses },
      },
    },
    '/api/dictionaries/{name}/codes/{code}/deactivate': {
      post: {
        tags: ['dictionaries'],
        summary: 'Deactivate one code (…/activate undoes it)',
        security: [{ bearer: ['dictionaries:write'] }],
        parameters: [name, code, dryRun, ifMatch],
        responses: { 200: { description: 'New revision (or unchanged)' }, 404: bad[404], 409: bad[409], ...errorResponses },
      },
    },
    '/api/dictionaries/{name}/rollback': {
      post: {
        tags: ['dictionaries'],
        summary: 'Back to the previous version (or {"revision": n}) as a new revision',
        security: [{ bearer: ['dictionaries:write'] }],
        parameters: [name, dryRun, ifMatch],
        requestBody: { required: false, content: jsonContent({ type: 'object', properties: { revision: { type: 'integer', minimum: 1 } } }) },
        responses: { 200: { description: 'Rolled back', content: jsonContent(envelope({ $ref: '#/components/schemas/DictionaryChange' })) }, 404: bad[404], 409: bad[409], ...errorResponses },
      },
    },
    '/api/dictionaries/{name}/versions': {
      get: {
        tags: ['dictionaries'],
        summary: 'Kept revisions, newest first',
        security: [{ bearer: ['dictionaries:read'] }],
        parameters: [name],
        responses: { 200: { description: 'Revisions with action, author, time and diff summary' }, 404: bad[404], ...errorResponses },
      },
    },
    '/api/dictionaries/{name}/export': {
      get: {
        tags: ['dictionaries'],
        summary: 'The dictionary (or a kept revision) in the file format',
        security: [{ bearer: ['dictionaries:read'] }],
        parameters: [name, { name: 'revision', in: 'query', schema: { type: 'integer', minimum: 1 } }],
        responses: { 200: { description: 'The file', content: jsonContent({ $ref: '#/components/schemas/Dictionary' }) }, 404: bad[404], ...errorResponses },
      },
    },
  },
};
