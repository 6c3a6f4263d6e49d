/**
 * Bearer-token authentication and scope checks, used by every route.
 *
 *   bad token        → 401 {"error":{"type":"access_denied","message":"Invalid access token"}}
 *   no bearer header → 401 {"error":{"type":"access_denied","message":"Authorization header is not set or doesn't
 *                             contain Bearer token"}} (the eHealth gateway's wording, NOTES.md §1)
 *   missing scope    → 403 {"error":{"type":"forbidden","message":"Your scope does not allow to access this resource.
 *                             Missing allowances: <scopes, comma-separated>"}}
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { jwtVerify, type JWTPayload } from 'jose';
import type { KeySource } from './keys.js';

export interface AuthContext {
  /** `sub`: the user id. */
  userId: string;
  /** `client_id`: the legal entity the user acts for. */
  clientId: string | undefined;
  scopes: Set<string>;
  claims: JWTPayload;
}

declare module 'express-serve-static-core' {
  interface Request {
    auth?: AuthContext;
  }
}

export const ALGORITHMS = ['RS256', 'ES256'];

export interface AuthOptions {
  issuer?: string;
  audience?: string;
}

export class Authenticator {
  constructor(
    private readonly keys: KeySource,
    private readonly options: AuthOptions = {},
  ) {}

  /** Verifies a bearer token; undefined when it is missing, malformed, expired or signed by an unknown key. */
  async verify(authorization: string | undefined): Promise<AuthContext | undefined> {
    const m = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(authorization ?? '');
    if (!m) return undefined;
    try {
      const { payload } = await jwtVerify(m[1], this.keys.getKey, {
        algorithms: ALGORITHMS,
        issuer: this.options.issuer,
        audience: this.options.audience,
      });
      if (typeof payload.sub !== 'string' || payload.sub === '') return undefined;
      const scope = typeof payload.scope === 'string' ? payload.scope : '';
      return {
        userId: payload.sub,
        clientId: typeof payload.client_id === 'string' ? payload.client_id : undefined,
        scopes: new Set(scope.split(/\s+/).filter(Boolean)),
        claims: payload,
      };
    } catch {
      return undefined;
    }
  }

  /** 401 unless a valid token is presented; sets `req.auth`. */
  authenticate(): RequestHandler {
    return async (req: Request, res: Response, next: NextFunction) => {
      if (!/^Bearer\s+\S/i.test(req.headers.authorization ?? '')) {
        sendMissingToken(res);
        return;
      }
      const auth = await this.verify(req.headers.authorization);
      if (!auth) {
        sendInvalidToken(res);
        return;
      }
      req.auth = auth;
      next();
    };
  }

  /** 401 without a valid token, 403 when any of the scopes is missing. */
  requireScopes(...scopes: string[]): RequestHandler {
    const authenticate = this.authenticate();
    return (req, res, next) => {
      void authenticate(req, res, () => {
        const missing = scopes.filter((s) => !req.auth!.scopes.has(s));
        if (missing.length > 0) {
          sendForbidden(res, missing);
          return;
        }
        next();
      });
    };
  }
}

export function sendInvalidToken(res: Response): void {
  res.status(401).json({ error: { type: 'access_denied', message: 'Invalid access token' } });
}

export function sendMissingToken(res: Response): void {
  res
    .status(401)
    .json({ error: { type: 'access_denied', message: "Authorization header is not set or doesn't contain Bearer token" } });
}

export function sendForbidden(res: Response, missing: string[]): void {
  res.status(403).json({
    error: {
      type: 'forbidden',
      message: `Your scope does not allow to access this resource. Missing allowances: ${missing.join(', ')}`,
    },
  });
}
