/**
 * The stable `error.type` values of /api answers (`{meta, error: {type, message, invalid?}}`): clients branch on these,
 * so they change only with a new API version. docs/errors.md and the OpenAPI document's `Error` schema list them.
 *
 * Rule of thumb: a body or URL that cannot be read at all is 400 `request_malformed`; a request that was read but
 * breaks a rule (schema, business rule, reference that does not resolve) is 422 `validation_failed`, with `invalid`
 * entries naming each field when there are fields to name.
 */
export const ERROR_TYPES = {
  request_malformed: { status: 400, description: 'The body or URL cannot be read: not JSON/XML/CSV, empty, nested too deep, bad percent-encoding or Content-Encoding, a header in the wrong format.' },
  request_aborted: { status: 400, description: 'The client closed the connection while sending the body (logged; the client sees no answer).' },
  access_denied: { status: 401, description: 'No bearer token, or one that is invalid or expired.' },
  forbidden: { status: 403, description: 'The token lacks a scope or a legal entity (client_id), or a rule of the route refuses this user.' },
  not_found: { status: 404, description: 'No such route or record, or one that belongs to another legal entity.' },
  method_not_allowed: { status: 405, description: 'The route exists but not with this method.' },
  not_acceptable: { status: 406, description: 'No answer in a media type the Accept header allows.' },
  request_timeout: { status: 408, description: 'The request took too long to arrive.' },
  request_conflict: { status: 409, description: 'The current state does not allow the request (the message names the state); read again and decide.' },
  message_busy: { status: 409, description: 'Another request is processing this stored message; retry later.' },
  length_required: { status: 411, description: 'A body without Content-Length where one is required.' },
  request_entity_too_large: { status: 413, description: 'The body is larger than the route accepts.' },
  uri_too_long: { status: 414, description: 'The URL is too long.' },
  unsupported_media_type: { status: 415, description: 'Content-Type, charset or Content-Encoding the route does not take.' },
  validation_failed: { status: 422, description: 'The request was read but breaks a rule: `invalid` lists each field (entry, rule, description) when there are fields to name.' },
  too_many_requests: { status: 429, description: 'Too many requests at once; retry later.' },
  client_error: { status: 400, description: 'Any other 4xx refusal (the HTTP status says which).' },
  internal_error: { status: 500, description: 'A fault of the engine; the request id in `meta` finds it in the logs.' },
  processing_failed: { status: 500, description: 'A referral was stored but could not be processed; resend it or replay it.' },
  decryption_failed: { status: 500, description: 'A stored record cannot be decrypted with the configured keys (a job error).' },
  delivery_failed: { status: 502, description: 'A notice to a patient was not delivered after its last attempt (an error of the job notifications.deliver).' },
  service_unavailable: { status: 503, description: 'The database or FHIR store did not answer; nothing was changed, retry.' },
  not_configured: { status: 503, description: 'The feature is not configured on this engine.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorType = keyof typeof ERROR_TYPES;

export const ERROR_TYPE_NAMES = Object.keys(ERROR_TYPES) as ErrorType[];
