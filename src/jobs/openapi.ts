import { errorResponses, jsonContent, queryParameters, type OpenApiFragment, envelope } from '../platform/http/openapi-fragment.js';
import { clientJobSchema, detailedJobSchema, jobListQuerySchema } from './schemas.js';


export const jobsOpenApi: OpenApiFragment = {
  tags: [{ name: 'jobs', description: 'Background jobs (eHealth asynchronous-job contract)' }],
  schemas: { ClientJob: clientJobSchema, DetailedJob: detailedJobSchema },
  paths: {
    '/api/jobs/{id}': {
      get: {
        tags: ['jobs'],
        summary: 'A job: pending 200, processed 303 (links) or 200 (response_data), failed 200 with error',
        security: [{ bearer: ['job:read'] }],
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{24}$' } },
          { name: 'details', in: 'query', required: false, schema: { type: 'boolean' }, description: "true: the operators' view" },
        ],
        responses: {
          200: { description: 'Pending, failed, or processed with response_data', content: jsonContent(envelope({ oneOf: [{ $ref: '#/components/schemas/ClientJob' }, { $ref: '#/components/schemas/DetailedJob' }] })) },
          303: { description: 'Processed: Location is the first link', content: jsonContent(envelope({ $ref: '#/components/schemas/ClientJob' })) },
          404: { description: 'Unknown id, or a job of another legal entity' },
          ...errorResponses,
        },
      },
    },
    '/api/jobs': {
      get: {
        tags: ['jobs'],
        summary: "List jobs (operators' view), own legal entity unless scope admin",
        security: [{ bearer: ['job:read'] }],
        parameters: queryParameters(jobListQuerySchema),
        responses: {
          200: { description: 'A page of jobs', content: jsonContent(envelope({ type: 'array', items: { $ref: '#/components/schemas/DetailedJob' } })) },
          422: { description: 'Bad query parameter (validation_failed)' },
          ...errorResponses,
        },
      },
    },
    '/api/jobs/{id}/rerun': {
      post: {
        tags: ['jobs'],
        summary: 'Run a failed job again',
        security: [{ bearer: ['admin'] }],
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 202: { description: 'Scheduled' }, 404: { description: 'Unknown job' }, 409: { description: 'The job is not failed' }, ...errorResponses },
      },
    },
  },
};
