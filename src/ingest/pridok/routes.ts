/**
 * POST /api/webhooks/pridok/referrals — Pridok referral webhook (JSON), authenticated instead of a bearer token by
 * `X-Pridok-Timestamp: <unix seconds>` and `X-Pridok-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>"
 * with the webhook secret of the tenant>` (TENANTS); the tenant whose secret matches owns the referral.
 *
 *   201 {data: {patient, service_request, encounter, message_id}}   created
 *   200 same body                                                    the JournalGuid was processed before
 *   400 request_malformed | 401 invalid signature or timestamp | 413 too large | 415 not JSON
 *   422 validation_failed with `invalid` listing every bad field (ajv), or $.PID when its check digits fail
 *   503 not_configured: no tenant has a Pridok webhook secret
 *   500 processing_failed: stored, mapping or FHIR store failed (resend or replay)
 *
 * Mounted before the global JSON parser: the signature covers the exact bytes received.
 */
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { PridokService } from './service.js';
import type { Config } from '../../platform/config/config.js';
import type { TenantDirectory } from '../../platform/tenancy/directory.js';
import { sendData, sendEnvelopeError } from '../../platform/http/envelope.js';
import { log } from '../../platform/logging/logger.js';
import { checkSignature } from './service.js';

/** What the Pridok webhook uses of the engine. */
interface PridokRoutesDeps {
  /** The engine configuration. */
  readonly config: Config;
  /** The ingest services used here. */
  ingest: { pridok: PridokService };
  /** The tenants and the messages they receive. */
  readonly tenants: TenantDirectory;
}

export function pridokRouter(ctx: PridokRoutesDeps): Router {
  const router = Router();
  const header = (req: Request, name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  router.post(
    '/api/webhooks/pridok/referrals',
    (req: Request, res: Response, next: NextFunction) => {
      if (!ctx.tenants.pridokEnabled) {
        sendEnvelopeError(req, res, 503, { type: 'not_configured', message: 'Pridok webhooks are not enabled: no tenant has a pridok_webhook_secret (TENANTS)' });
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
        const check = checkSignature(
          ctx.tenants,
          body,
          { timestamp: header(req, 'x-pridok-timestamp'), signature: header(req, 'x-pridok-signature') },
          ctx.config.ingest.pridokMaxSkewSeconds,
        );
        if ('refused' in check) {
          log().warn({ reason: check.refused }, 'pridok webhook refused');
          sendEnvelopeError(req, res, 401, { type: 'access_denied', message: check.refused });
          return;
        }
        const result = await ctx.ingest.pridok.receive(body, String(req.headers['content-type']), check.tenant);
        if ('data' in result) sendData(req, res, result.httpStatus, result.data);
        else sendEnvelopeError(req, res, result.httpStatus, result.error);
      } catch (err) {
        next(err);
      }
    },
  );
  return router;
}
