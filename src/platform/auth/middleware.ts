/**
 * Bearer-token authentication and scope checks, used by every route.
 *
 *   bad token        → 401 {"error":{"type":"access_denied","message":"Invalid access token"}}
 *   no bearer header → 401 {"error":{"type":"access_denied","message":"Authorization header is not set or doesn't
 *                             contain Bearer token"}} (the eHealth gateway's wording, kong-mithril-plugin)
 *   missing scope    → 403 {"error":{"type":"forbidden","message":"Your scope does not allow to access this resource.
 *                             Missing allowances: <scopes, comma-separated>"}}
 *
 * Routes that answer in the eHealth envelope (jobs, messages, consultations, registries, dictionaries, care plans) use
 * `auth.inEnvelope()`: the same refusals with `"meta"` beside `"error"`, like every other answer of those routes.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { jwtVerify, type JWTPayload } from 'jose';
import type { KeySource } from './keys.js';
import { sendEnvelopeError } from '../http/envelope.js';

/** How a route family writes a refusal: the error alone, or in the eHealth envelope ({meta, error}). */
export type RefusalBody = 'plain' | 'envelope';

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
    private readonly body: RefusalBody = 'plain',
  ) {}

  /** The same checks, refusing in the eHealth envelope. */
  inEnvelope(): Authenticator {
    return new Authenticator(this.keys, this.options, 'envelope');
  }

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
        sendMissingToken(req, res, this.body);
        return;
      }
      const auth = await this.verify(req.headers.authorization);
      if (!auth) {
        sendInvalidToken(req, res, this.body);
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
          sendForbidden(req, res, missing, this.body);
          return;
        }
        next();
      });
    };
  }
}

function refuse(req: Request, res: Response, body: RefusalBody, status: number, error: { type: string; message: string }): void {
  if (body === 'envelope') sendEnvelopeError(req, res, status, error);
  else res.status(status).json({ error });
}

export function sendInvalidToken(req: Request, res: Response, body: RefusalBody): void {
  refuse(req, res, body, 401, { type: 'access_denied', message: 'Invalid access token' });
}

export function sendMissingToken(req: Request, res: Response, body: RefusalBody): void {
  refuse(req, res, body, 401, { type: 'access_denied', message: "Authorization header is not set or doesn't contain Bearer token" });
}

export function sendForbidden(req: Request, res: Response, missing: string[], body: RefusalBody): void {
  refuse(req, res, body, 403, { type: 'forbidden', message: `Your scope does not allow to access this resource. Missing allowances: ${missing.join(', ')}` });
}
