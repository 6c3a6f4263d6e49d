/**
 * Per-request logging: a request id (from a sane `X-Request-Id` header, else a new UUID) on every log line,
 * echoed in the response header. Only method, path (no query string: it can hold national ids) and status are logged.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import { errSerializer, rootLogger, runWithLogger } from '../logging/logger.js';

const SANE_ID = /^[A-Za-z0-9._:-]{1,100}$/;

export function requestContext(): RequestHandler[] {
  const httpLogger = pinoHttp({
    logger: rootLogger(),
    quietReqLogger: true,
    customAttributeKeys: { reqId: 'reqId' },
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && SANE_ID.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    serializers: {
      req: (req: { method?: string; url?: string }) => ({ method: req.method, path: (req.url ?? '').split('?')[0] }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      err: errSerializer,
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
  });
  return [
    httpLogger as unknown as RequestHandler,
    (req, _res, next) => runWithLogger(req.log, next),
  ];
}
