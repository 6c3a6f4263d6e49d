/** OpenAPI fragment of the care plan routes (request schemas are the ones the routes and the job validate with). */
import { errorResponses, jsonContent, type OpenApiFragment, envelope } from '../platform/http/openapi-fragment.js';
import { carePlanActivitySchema, carePlanCreateSchema, signedDataRequestSchema } from './schemas.js';

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/** The schema without $id, `format: uuid` spelled as a pattern (OpenAPI tools know few formats). */
function strip(schema: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema), (key, value) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const { $id: _id, ...rest } = value as Record<string, unknown>;
      if (rest.format === 'uuid') {
        delete rest.format;
        rest.pattern = UUID_PATTERN;
      }
      return rest;
    }
    return value;
  }) as Record<string, unknown>;
}

const anyObject = { type: 'object' };
const path = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const query = (name: string, schema: object) => ({ name, in: 'query', required: false, schema });
const paging = [query('page', { type: 'integer', minimum: 1 }), query('page_size', { type: 'integer', minimum: 1, maximum: 100 })];

export const carePlansOpenApi: OpenApiFragment = {
  tags: [{ name: 'care plans', description: 'Care plans and signed care plan activities (Ukrainian eHealth model)' }],
  schemas: {
    CarePlanCreate: strip(carePlanCreateSchema as never),
    SignedDataRequest: strip(signedDataRequestSchema as never),
    CarePlanActivitySignedContent: strip(carePlanActivitySchema as never),
  },
  paths: {
    '/api/patients/{patient_id}/care_plans': {
      post: {
        tags: ['care plans'],
        summary: 'Create a care plan (status new)',
        security: [{ bearer: ['care_plan:write'] }],
        parameters: [path('patient_id')],
        requestBody: { required: true, content: jsonContent({ $ref: '#/components/schemas/CarePlanCreate' }) },
        responses: {
          201: { description: 'Created (Care_Plan_Show)', content: jsonContent(envelope(anyObject)) },
          200: { description: 'The same id again: the stored plan' },
          404: { description: 'Unknown patient' },
          409: { description: 'Legal entity not active / type not allowed, person not active, author not the user\'s employee, id taken' },
          422: { description: 'validation_failed' },
          ...errorResponses,
        },
      },
      get: {
        tags: ['care plans'],
        summary: "The patient's care plans the token may read",
        security: [{ bearer: ['care_plan:read'] }],
        parameters: [path('patient_id'), query('status', { enum: ['new', 'active', 'completed', 'cancelled', 'terminated'] }), ...paging],
        responses: { 200: { description: 'A page', content: jsonContent(envelope({ type: 'array', items: anyObject })) }, 422: { description: 'Bad query' }, ...errorResponses },
      },
    },
    '/api/patients/{patient_id}/care_plans/{id}': {
      get: {
        tags: ['care plans'],
        summary: 'A care plan (Care_Plan_Show)',
        security: [{ bearer: ['care_plan:read'] }],
        parameters: [path('patient_id'), path('id')],
        responses: { 200: { description: 'The plan', content: jsonContent(envelope(anyObject)) }, 404: { description: 'Not found' }, ...errorResponses },
      },
    },
    '/api/patients/{patient_id}/care_plans/{care_plan_id}/activities': {
      post: {
        tags: ['care plans'],
        summary: 'Add a signed activity: 202 with the job; the job verifies the CMS and checks every rule',
        description: 'signed_data: base64 CMS SignedData whose content is CarePlanActivitySignedContent. See README "Care plan activities".',
        security: [{ bearer: ['care_plan:write'] }],
        parameters: [path('patient_id'), path('care_plan_id')],
        requestBody: { required: true, content: jsonContent({ $ref: '#/components/schemas/SignedDataRequest' }) },
        responses: {
          202: { description: 'Job created (Location: /api/jobs/{id})', content: jsonContent(envelope({ $ref: '#/components/schemas/ClientJob' })) },
          200: { description: 'Identical request while its job is pending: that job', content: jsonContent(envelope({ $ref: '#/components/schemas/ClientJob' })) },
          404: { description: 'Unknown patient' },
          409: { description: 'Legal entity not active / type not allowed; person not active' },
          422: { description: 'Care plan not found / invalid status / expired / other legal entity; validation_failed body' },
          ...errorResponses,
        },
      },
      get: {
        tags: ['care plans'],
        summary: 'Activities of a care plan (Care_plan_activity_show + audit fields)',
        security: [{ bearer: ['care_plan:read'] }],
        parameters: [
          path('patient_id'),
          path('care_plan_id'),
          query('author', { type: 'string' }),
          query('kind', { enum: ['service_request', 'medication_request', 'device_request'] }),
          query('status', { enum: ['scheduled', 'in_progress', 'completed', 'cancelled'] }),
          ...paging,
        ],
        responses: { 200: { description: 'A page', content: jsonContent(envelope({ type: 'array', items: anyObject })) }, 404: { description: 'Unknown care plan' }, 422: { description: 'Bad query' }, ...errorResponses },
      },
    },
    '/api/patients/{patient_id}/care_plans/{care_plan_id}/activities/{id}': {
      get: {
        tags: ['care plans'],
        summary: 'An activity',
        security: [{ bearer: ['care_plan:read'] }],
        parameters: [path('patient_id'), path('care_plan_id'), path('id')],
        responses: { 200: { description: 'The activity', content: jsonContent(envelope(anyObject)) }, 404: { description: 'Not found' }, ...errorResponses },
      },
    },
    '/api/patients/{patient_id}/care_plans/{care_plan_id}/activities/{id}/signed_content': {
      get: {
        tags: ['care plans'],
        summary: 'The signed original of the activity (CMS SignedData, DER)',
        security: [{ bearer: ['care_plan:read'] }],
        parameters: [path('patient_id'), path('care_plan_id'), path('id')],
        responses: { 200: { description: 'application/pkcs7-mime bytes; Digest: sha-256=…' }, 404: { description: 'Not found' }, ...errorResponses },
      },
    },
  },
};
