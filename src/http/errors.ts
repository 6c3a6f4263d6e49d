/**
 * JSON error bodies for non-FHIR routes: {"error":{"type":"...","message":"..."}}.
 * (FHIR routes answer with OperationOutcome instead; see src/fhir.)
 */
import type { ErrorRequestHandler, Request, Response } from 'express';
import { log } from '../logging/logger.js';
import { TenantAccessError } from '../tenancy/request-tenant.js';

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

/** Maps body-parser failures (they carry `type` and `status`) to a stable error type. */
export function bodyParserError(err: unknown): { status: number; type: string; message: string } | undefined {
  const e = err as { type?: string; status?: number; limit?: number; message?: string };
  switch (e?.type) {
    case 'entity.too.large':
      return { status: 413, type: 'request_entity_too_large', message: `Request body exceeds the limit of ${e.limit} bytes` };
    case 'entity.parse.failed':
      return { status: 400, type: 'malformed_request', message: 'Request body is not valid JSON' };
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return { status: 415, type: 'unsupported_media_type', message: e.message ?? 'Unsupported encoding' };
    case 'request.aborted':
      return { status: 400, type: 'request_aborted', message: 'Request aborted' };
    default:
      return undefined;
  }
}

export function notFoundHandler(req: Request, res: Response): void {
  sendError(res, 404, 'not_found', `No route for ${req.method} ${req.path}`);
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
  const parsed = bodyParserError(err);
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
