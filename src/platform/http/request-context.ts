/**
 * Per-request logging: a request id on every log line, echoed in the response header, and the route pattern that
 * answered (`/api/patients/:patient_id/care_plans`), never the raw path or query string: both can hold national ids.
 *
 * A client's `X-Request-Id` is kept only when it has a safe shape (SAFE_REQUEST_ID: 1–64 letters, digits, `.`,
 * `_`, `-`, and no run of 6 or more digits, which could be a national id or a phone number); otherwise the engine
 * generates a UUID.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import { errSerializer, rootLogger, runWithLogger } from '../logging/logger.js';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
const DIGIT_RUN = /\d{6}/;

/** The client's request id when its shape is safe to log and echo, else undefined. */
function acceptedRequestId(given: unknown): string | undefined {
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) && !DIGIT_RUN.test(given) ? given : undefined;
}

/** The pattern of the route that answered (`/fhir/:type/:id`), or `unmatched`: what logs and metrics carry. */
export function routePattern(req: Pick<Request, 'route' | 'baseUrl'>): string {
  const route: unknown = req.route?.path;
  return route === undefined ? 'unmatched' : `${req.baseUrl ?? ''}${String(route)}`;
}

export function requestContext(): RequestHandler[] {
  const httpLogger = pinoHttp({
    logger: rootLogger(),
    quietReqLogger: true,
    customAttributeKeys: { reqId: 'reqId' },
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const id = acceptedRequestId(req.headers['x-request-id']) ?? randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    serializers: {
      // Serialized when the request arrives (before any route matched): the method only.
      req: (req: { method?: string }) => ({ method: req.method }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      err: errSerializer,
    },
    // The completion line (written after the answer, when the route is known) carries the route pattern.
    customSuccessObject: (req, _res, value) => ({ ...value, route: routePattern(req as Request) }),
    customErrorObject: (req, _res, _err, value) => ({ ...value, route: routePattern(req as Request) }),
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
  });
  return [
    httpLogger as unknown as RequestHandler,
    (req, _res, next) => runWithLogger(req.log, next),
  ];
}
