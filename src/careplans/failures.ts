/** Job failures in the eHealth error shapes (the API's validation_failed error and the async-job error body). */
import { invalidAt, type ValidationFailedBody } from '../platform/http/validation-error.js';
import { JobFailure } from '../jobs/types.js';

/** 422 validation_failed with one entry (business rules: rule "invalid", the message as description). */
export const unprocessable = (entry: string, description: string, rule = 'invalid', params: unknown = []) =>
  new JobFailure(422, invalidAt(entry, description, rule, params));

export const schemaFailure = (body: ValidationFailedBody) => new JobFailure(422, body);

/** 422 validation_failed with a plain message and no `invalid` entries (a rule about the request as a whole). */
export const unprocessableMessage = (message: string) => new JobFailure(422, { type: 'validation_failed', message });

export const conflict = (message: string) => new JobFailure(409, { type: 'request_conflict', message });

export const notFound = (message: string) => new JobFailure(404, { type: 'not_found', message });

export const internal = (message: string) => new JobFailure(500, { type: 'internal_error', message });
