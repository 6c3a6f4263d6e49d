/**
 * POST /api/messages with `Content-Type: x-application/hl7-v2+er7` — one HL7 v2 message, scope messages:write; the
 * token's tenant must have registered the message's receiving facility (MSH-5/MSH-6), else AR.
 *
 *   200 x-application/hl7-v2+er7  the ACK: the application ACK (AA/AE/AR); in enhanced mode when MSH-16 asks for
 *                                 none, the commit ACK (CA). X-Message-Id = message-store id, X-Duplicate on a resend
 *   401 / 403                     no or bad token / missing scope (checked before the body is read)
 *   413                           body larger than MESSAGE_MAX_BYTES
 *
 * Other content types go on to the henvisning route. Mounted before the global JSON parser with its own raw parser.
 */
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Authenticator } from '../../platform/auth/middleware.js';
import { ownTenant } from '../../platform/tenancy/request-tenant.js';
import { ackBytes, HL7V2_CONTENT_TYPE, type Hl7v2Service } from './service.js';

const HL7V2_TYPE = /^x-application\/hl7-v2\+er7\s*(;|$)/i;

export function hl7v2Router(deps: { auth: Pick<Authenticator, 'requireScopes'>; hl7v2: Pick<Hl7v2Service, 'receive'>; maxBytes: number }): Router {
  const router = Router();
  router.post(
    '/api/messages',
    (req: Request, _res: Response, next: NextFunction) => next(HL7V2_TYPE.test(req.headers['content-type'] ?? '') ? undefined : 'route'),
    deps.auth.requireScopes('messages:write'),
    express.raw({ type: () => true, limit: deps.maxBytes }),
    async (req: Request, res: Response, next: NextFunction) => {
      try {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        let commit: string | undefined;
        const answer = await deps.hl7v2.receive(body, { kind: 'http', tenant: ownTenant(req) }, (ack) => (commit = ack));
        if (answer.messageId) res.setHeader('X-Message-Id', answer.messageId);
        if (answer.duplicate) res.setHeader('X-Duplicate', 'true');
        const ack = answer.acks.at(-1) ?? commit ?? answer.ack;
        const charset = /^8859\//.test(answer.characterSet) ? 'iso-8859-1' : 'utf-8';
        res.status(200).type(`${HL7V2_CONTENT_TYPE}; charset=${charset}`).send(ackBytes(ack, answer.characterSet));
      } catch (err) {
        next(err);
      }
    },
  );
  return router;
}
