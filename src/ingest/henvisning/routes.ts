/**
 * POST /api/messages — henvisning XML (MsgHead v1.2 + Henvisning v2.0, or a Henvisning v1.1/v1.0 Message), scope
 * messages:write.
 *
 *   200 application/xml  an AppRec v1.1 (status 1 OK or 2 rejected with 8221 codes); X-Message-Id = message-store id
 *   400 request_malformed the body is not an XML document at all (no AppRec possible)
 *   401 / 403            no or bad token / missing scope (checked before the body is read)
 *   413                  body larger than MESSAGE_MAX_BYTES (refused from Content-Length, or while reading)
 *   415                  Content-Type is not XML
 *   500 processing_failed stored, but mapping or FHIR store failed; resend (same MsgId) or replay processes it again
 *
 * Mounted before the global JSON parser with its own raw parser and limit. A transport, not an /api envelope route:
 * its errors are plain `{error: {type, message}}` (the sender's adapter reads AppRecs, not the envelope).
 */
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { HenvisningService } from './service.js';
import type { Authenticator } from '../../platform/auth/middleware.js';
import type { Config } from '../../platform/config/config.js';
import { jsonErrorHandler, sendError } from '../../platform/http/errors.js';
import { ownTenant } from '../../platform/tenancy/request-tenant.js';

/** What the henvisning endpoint uses of the engine. */
interface HenvisningRoutesDeps {
  /** Verifies bearer tokens. */
  readonly auth: Authenticator;
  /** The engine configuration. */
  readonly config: Config;
  /** The ingest services used here. */
  ingest: { henvisning: HenvisningService };
}

const XML_TYPES = /^(application|text)\/(xml|[\w.+-]+\+xml)\s*(;|$)/i;

export function henvisningRouter(ctx: HenvisningRoutesDeps): Router {
  const router = Router();
  const limit = ctx.config.ingest.messageMaxBytes;
  router.post(
    '/api/messages',
    ctx.auth.requireScopes('messages:write'),
    (req: Request, res: Response, next: NextFunction) => {
      const type = req.headers['content-type'] ?? '';
      if (!XML_TYPES.test(type)) {
        sendError(res, 415, 'unsupported_media_type', 'POST /api/messages takes Content-Type application/xml (a MsgHead message) or x-application/hl7-v2+er7 (an HL7 v2 message)');
        return;
      }
      next();
    },
    express.raw({ type: () => true, limit }),
    async (req: Request, res: Response, next: NextFunction) => {
      try {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const result = await ctx.ingest.henvisning.receive(body, String(req.headers['content-type']), ownTenant(req));
        if (result.kind === 'error') {
          if (result.messageId) res.setHeader('X-Message-Id', result.messageId);
          sendError(res, result.httpStatus, result.type, result.message, result.messageId ? { message_id: result.messageId } : {});
          return;
        }
        res.setHeader('X-Message-Id', result.messageId);
        if (result.duplicate) res.setHeader('X-Duplicate', 'true');
        res.status(200).type('application/xml; charset=utf-8').send(result.xml);
      } catch (err) {
        next(err);
      }
    },
  );
  // Errors of the transport (a body over the limit while reading, …) in its own plain shape.
  router.use('/api/messages', (err: unknown, req: Request, res: Response, next: NextFunction) =>
    req.method === 'POST' ? jsonErrorHandler(err, req, res, next) : next(err),
  );
  return router;
}
