/**
 * POST /api/webhooks/pridok/referrals — Pridok referral webhook (JSON), authenticated by `X-Pridok-Signature:
 * sha256=<hex HMAC-SHA256 of the raw body with PRIDOK_WEBHOOK_SECRET>` instead of a bearer token.
 *
 *   201 {data: {patient, service_request, encounter, message_id}}   created
 *   200 same body                                                    the JournalGuid was processed before
 *   400 malformed_request | 401 invalid signature | 413 too large | 415 not JSON
 *   422 validation_failed with `invalid` listing every bad field (ajv), or $.PID when its check digits fail
 *   503 not_configured: PRIDOK_WEBHOOK_SECRET is not set
 *   500 processing_failed: stored, mapping or FHIR store failed (resend or replay)
 *
 * Mounted before the global JSON parser: the signature covers the exact bytes received.
 */
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { AppContext } from '../http/context.js';
import { sendData, sendEnvelopeError } from '../http/envelope.js';
import { log } from '../logging/logger.js';
import { verifySignature } from './service.js';

export function pridokRouter(ctx: AppContext): Router {
  const router = Router();
  const secret = ctx.config.ingest.pridokWebhookSecret;
  router.post(
    '/api/webhooks/pridok/referrals',
    (req: Request, res: Response, next: NextFunction) => {
      if (!secret) {
        sendEnvelopeError(req, res, 503, { type: 'not_configured', message: 'Pridok webhooks are not enabled: PRIDOK_WEBHOOK_SECRET is not set' });
        return;
      }
      if (!/^application\/(json|[\w.+-]+\+json)\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
        sendEnvelopeError(req, res, 415, { type: 'unsupported_media_type', message: 'Content-Type must be application/json' });
        return;
      }
      next();
    },
    express.raw({ type: () => true, limit: ctx.config.ingest.messageMaxBytes }),
    async (req: Request, res: Response, next: NextFunction) => {
      try {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const header = req.headers['x-pridok-signature'];
        if (!verifySignature(secret!, body, Array.isArray(header) ? header[0] : header)) {
          log().warn('pridok webhook: missing or invalid signature');
          sendEnvelopeError(req, res, 401, { type: 'access_denied', message: 'Missing or invalid X-Pridok-Signature' });
          return;
        }
        const result = await ctx.ingest.pridok.receive(body, String(req.headers['content-type']));
        if ('data' in result) sendData(req, res, result.httpStatus, result.data);
        else sendEnvelopeError(req, res, result.httpStatus, result.error);
      } catch (err) {
        next(err);
      }
    },
  );
  return router;
}
