/** JSON Schemas of the jobs API: used by the route to validate and by the OpenAPI document (one source of truth). */
export const jobListQuerySchema = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 200, description: 'Job name, e.g. careplan.activity.create' },
    status: { type: 'string', enum: ['pending', 'processing', 'processed', 'failed'] },
    from: { type: 'string', format: 'date-time', description: 'Inserted at or after' },
    to: { type: 'string', format: 'date-time', description: 'Inserted before' },
    page: { type: 'integer', minimum: 1, default: 1 },
    page_size: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  },
  additionalProperties: false,
} as const;

const link = {
  type: 'object',
  properties: { entity: { type: 'string' }, href: { type: 'string' } },
  required: ['entity', 'href'],
  additionalProperties: false,
} as const;

/** The client view of a job (eHealth job contract). */
export const clientJobSchema = {
  type: 'object',
  properties: {
    eta: { type: 'string', format: 'date-time' },
    status: { type: 'string', enum: ['pending', 'processed', 'failed'] },
    status_code: { type: 'integer' },
    links: { type: 'array', items: link },
    response_data: {},
    error: { type: 'object', properties: { type: { type: 'string' }, message: { type: 'string' }, invalid: { type: 'array' } } },
  },
  required: ['eta', 'status'],
} as const;

export const detailedJobSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', pattern: '^[0-9a-f]{24}$' },
    name: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'processing', 'processed', 'failed'] },
    status_code: { type: 'integer' },
    eta: { type: 'string', format: 'date-time' },
    attempts: { type: 'integer' },
    max_attempts: { type: 'integer' },
    progress: { type: 'object', properties: { percent: { type: 'number' }, message: { type: 'string' } } },
    inserted_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    started_at: { type: 'string', format: 'date-time' },
    finished_at: { type: 'string', format: 'date-time' },
    result: {},
    error: {},
    last_error: { type: 'string' },
  },
  required: ['id', 'name', 'status', 'status_code', 'eta', 'attempts', 'inserted_at', 'updated_at'],
} as const;
