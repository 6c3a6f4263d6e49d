/**
 * JSON error bodies for non-FHIR routes: {"error":{"type":"...","message":"..."}}.
 * (FHIR routes answer with OperationOutcome instead; see src/fhir-api.)
 */
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { log } from '../logging/logger.js';
import { TenantAccessError } from '../tenancy/request-tenant.js';
import { JSON_MAX_DEPTH, JSON_TOO_DEEP } from './body.js';
import type { ErrorType } from './error-types.js';
import { sendEnvelopeError } from './envelope.js';

export class HttpError extends Error {
  constructor(
    public readonly status: number,
    public readonly type: string,
    message: string,
    public readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function sendError(res: Response, status: number, type: string, message: string, extra: Record<string, unknown> = {}): void {
  res.status(status).json({ error: { type, message, ...extra } });
}

interface ClientError {
  status: number;
  type: string;
  message: string;
}

const TYPE_OF_STATUS: Record<number, ErrorType> = {
  400: 'request_malformed',
  401: 'access_denied',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  409: 'request_conflict',
  411: 'length_required',
  413: 'request_entity_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  422: 'validation_failed',
  429: 'too_many_requests',
};

/**
 * The one mapping of client errors, shared by every route family (each renders it in its own body shape): body
 * parser failures (too large, bad JSON, too deep, undecodable Content-Encoding, unsupported encoding or charset),
 * a malformed percent-encoding in the path, and any error that carries a 4xx `status` or `statusCode`. Undefined
 * for everything else: that is a server fault (5xx).
 */
export function clientError(err: unknown): ClientError | undefined {
  const e = err as { type?: unknown; status?: unknown; statusCode?: unknown; limit?: number; message?: unknown; expose?: unknown };
  if (e === null || typeof e !== 'object') return undefined;
  switch (e.type) {
    case 'entity.too.large':
      return { status: 413, type: 'request_entity_too_large', message: `Request body exceeds the limit of ${e.limit} bytes` };
    case 'entity.parse.failed':
      return { status: 400, type: 'request_malformed', message: 'Request body is not valid JSON' };
    case JSON_TOO_DEEP:
      return { status: 400, type: 'request_malformed', message: `Request body JSON is nested deeper than ${JSON_MAX_DEPTH} levels` };
    case 'encoding.unsupported':
      return { status: 415, type: 'unsupported_media_type', message: 'Unsupported Content-Encoding (use gzip, deflate, br or none)' };
    case 'charset.unsupported':
      return { status: 415, type: 'unsupported_media_type', message: typeof e.message === 'string' ? e.message : 'Unsupported charset' };
    case 'request.aborted':
      return { status: 400, type: 'request_aborted', message: 'Request aborted' };
    case 'request.size.invalid':
      return { status: 400, type: 'request_malformed', message: 'Request body length does not match Content-Length' };
  }
  if (e instanceof URIError || (typeof e.message === 'string' && e.message.startsWith('Failed to decode param'))) {
    return { status: 400, type: 'request_malformed', message: 'Malformed percent-encoding in the URL' };
  }
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status === undefined || !Number.isInteger(status) || status < 400 || status > 499) return undefined;
  // A decompression stream's failure (garbage deflate, truncated gzip) reaches here as the zlib error (numeric
  // `errno`, `code` such as Z_DATA_ERROR or Z_BUF_ERROR) with status 400 added by the body parser.
  const z = e as { code?: unknown; errno?: unknown };
  const undecodable = status === 400 && typeof z.errno === 'number' && typeof z.code === 'string' && typeof e.type !== 'string';
  // Texts of errors not made for clients are not echoed; http-errors marks client texts `expose`.
  const message = undecodable
    ? 'Request body could not be decoded with its Content-Encoding'
    : e.expose === true && typeof e.message === 'string'
      ? e.message.slice(0, 200)
      : 'Request refused';
  return { status, type: TYPE_OF_STATUS[status] ?? 'client_error', message };
}

/**
 * Refuses a path with a malformed percent-encoding (`/api/jobs/%ZZ`, `%C3%28`) before any router decodes it: the
 * error goes to the error handler of the path's family (400).
 */
export const checkPathEncoding: RequestHandler = (req, _res, next) => {
  try {
    decodeURIComponent(req.path);
  } catch (err) {
    return next(err);
  }
  next();
};

/**
 * The tenancy refusal (TenantAccessError, 403) in the envelope, for routers that answer in it but leave their other
 * errors to the application's handlers; anything else passes on.
 */
export const envelopeTenantErrors: ErrorRequestHandler = (err, req, res, next) => {
  if (!(err instanceof TenantAccessError) || res.headersSent) return next(err);
  log().warn({ status: err.status, errorType: err.type }, 'request rejected');
  sendEnvelopeError(req, res, err.status, { type: err.type, message: err.message });
};

/** Errors of routes answering in the eHealth envelope ({meta, error}): client errors as their 4xx, else 500. */
export const envelopeErrorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  if (res.headersSent) return void res.destroy();
  const parsed =
    err instanceof HttpError
      ? { status: err.status, type: err.type, message: err.message, ...err.extra }
      : err instanceof TenantAccessError
        ? { status: err.status, type: err.type, message: err.message }
        : clientError(err);
  if (parsed) {
    const { status, ...error } = parsed;
    log().warn({ status, errorType: error.type }, 'request rejected');
    sendEnvelopeError(req, res, status, error);
    return;
  }
  log().error({ err: { message: (err as Error)?.message, stack: (err as Error)?.stack } }, 'unhandled error');
  sendEnvelopeError(req, res, 500, { type: 'internal_error', message: 'Internal server error' });
};

/** No route: in the envelope under /api (like every other /api answer), a plain JSON error elsewhere. */
export function notFoundHandler(req: Request, res: Response): void {
  const message = `No route for ${req.method} ${req.path}`;
  if (req.path === '/api' || req.path.startsWith('/api/')) return sendEnvelopeError(req, res, 404, { type: 'not_found', message });
  sendError(res, 404, 'not_found', message);
}

export const jsonErrorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  if (err instanceof HttpError) {
    sendError(res, err.status, err.type, err.message, err.extra);
    return;
  }
  if (err instanceof TenantAccessError) {
    sendError(res, err.status, err.type, err.message);
    return;
  }
  const parsed = clientError(err);
  if (parsed) {
    log().warn({ status: parsed.status, errorType: parsed.type }, 'request rejected');
    sendError(res, parsed.status, parsed.type, parsed.message);
    return;
  }
  log().error({ err: { message: (err as Error)?.message, stack: (err as Error)?.stack } }, 'unhandled error');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendError(res, 500, 'internal_error', 'Internal server error');
};
