/**
 * Access to the operators' pages: a bearer token with the scopes `admin` and `support:cross_tenant` (the job board
 * shows every legal entity's jobs), or HTTP basic auth with the configured ADMIN_USERNAME / ADMIN_PASSWORD (browser
 * users: the installation's operators). Anything else gets 401 with a Basic challenge. Every bearer access is written
 * to the operator access log (target tenant "*").
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Authenticator } from './middleware.js';
import type { Config } from '../config/config.js';
import type { OperatorAccessLog } from '../tenancy/request-tenant.js';
import { sendForbidden } from './middleware.js';
import { CROSS_TENANT_SCOPE } from '../tenancy/request-tenant.js';

/** What the operators' access check uses of the engine. */
export interface AdminAuthDeps {
  /** Verifies bearer tokens. */
  readonly auth: Authenticator;
  /** The engine configuration. */
  readonly config: Config;
  /** Audit trail of support staff acting across tenants. */
  readonly operatorAccess: OperatorAccessLog;
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export function requireAdmin(ctx: AdminAuthDeps): RequestHandler {
  const { username, password } = ctx.config.admin;
  return async (req, res, next) => {
    const header = req.headers.authorization ?? '';
    if (/^Bearer\s/i.test(header)) {
      const auth = await ctx.auth.verify(header);
      if (!auth) {
        res.status(401).json({ error: { type: 'access_denied', message: 'Invalid access token' } });
        return;
      }
      const missing = ['admin', CROSS_TENANT_SCOPE].filter((sc) => !auth.scopes.has(sc));
      if (missing.length > 0) return sendForbidden(req, res, missing, 'plain');
      req.auth = auth;
      await ctx.operatorAccess.record(req, '*');
      return next();
    }
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    if (basic && username && password) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const sep = decoded.indexOf(':');
      if (sep > 0 && sameSecret(decoded.slice(0, sep), username) && sameSecret(decoded.slice(sep + 1), password)) return next();
    }
    res.setHeader('WWW-Authenticate', 'Basic realm="hl7-engine operators", charset="UTF-8"');
    res.status(401).json({ error: { type: 'access_denied', message: 'Operator credentials or an admin token are required' } });
  };
}
