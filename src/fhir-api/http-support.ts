/**
 * HTTP plumbing of the FHIR API: content negotiation, SMART scope checks, OperationOutcome errors, response headers.
 * Exported for modules that register extra FHIR routes (the extensions passed to `fhirRouter` in router.ts).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { TenantAccessError } from '../platform/tenancy/request-tenant.js';
import type { Resource } from '@medplum/fhirtypes';
import type { AuthContext } from '../platform/auth/middleware.js';
import type { Authenticator } from '../platform/auth/middleware.js';
import { clientError } from '../platform/http/errors.js';
import { routePattern } from '../platform/http/request-context.js';
import { log } from '../platform/logging/logger.js';
import { FhirError, operationOutcome, type IssueCode } from '../fhir-store/errors.js';

/** What FHIR authentication uses of the engine. */
export interface FhirAuthDeps {
  /** Verifies bearer tokens. */
  readonly auth: Authenticator;
}

export const FHIR_JSON = 'application/fhir+json';

const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);
const XML_FORMATS = new Set(['xml', 'text/xml', 'application/xml', 'application/fhir+xml', 'application/xml+fhir']);

/** 406 for XML-only requests (Accept or _format); JSON (application/fhir+json) is the only format served. */
export function negotiate(): RequestHandler {
  return (req, _res, next) => {
    const format = typeof req.query._format === 'string' ? req.query._format.toLowerCase().split(';')[0].trim() : undefined;
    if (format !== undefined) {
      if (JSON_FORMATS.has(format)) return next();
      if (XML_FORMATS.has(format)) return next(new FhirError(406, 'not-supported', 'Only JSON is supported (_format=json or application/fhir+json)'));
      return next(new FhirError(406, 'not-supported', `Unsupported _format "${format.slice(0, 50)}"`));
    }
    const accept = req.headers.accept;
    if (!accept) return next();
    const types = accept.split(',').map((t) => t.split(';')[0].trim().toLowerCase());
    const ok = types.some((t) => t === '*/*' || t === 'application/*' || JSON_FORMATS.has(t) || t.endsWith('+json'));
    if (!ok) return next(new FhirError(406, 'not-supported', 'Only application/fhir+json is supported'));
    next();
  };
}

/** Express error handler for FHIR routes: everything becomes an OperationOutcome. */
export function fhirErrorHandler() {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof TenantAccessError) {
      sendOutcome(res, err.status, operationOutcome('forbidden', err.message));
      return;
    }
    if (err instanceof FhirError) {
      if (err.status >= 500) log().error({ err: { message: err.message } }, 'FHIR error');
      sendOutcome(res, err.status, err.outcome);
      return;
    }
    const parsed = clientError(err);
    if (parsed) {
      log().warn({ status: parsed.status, errorType: parsed.type }, 'FHIR request rejected');
      sendOutcome(res, parsed.status, operationOutcome(outcomeCode(parsed.status), parsed.message));
      return;
    }
    log().error({ err: { message: (err as Error)?.message, stack: (err as Error)?.stack }, route: routePattern(req) }, 'unhandled FHIR error');
    sendOutcome(res, 500, operationOutcome('exception', 'Internal server error', 'fatal'));
  };
}

/** The OperationOutcome issue code of a client error's status. */
export function outcomeCode(status: number): IssueCode {
  switch (status) {
    case 401:
      return 'login';
    case 403:
      return 'forbidden';
    case 404:
      return 'not-found';
    case 409:
      return 'conflict';
    case 413:
      return 'too-long';
    case 405:
    case 406:
    case 415:
      return 'not-supported';
    default:
      return 'structure';
  }
}

export function sendOutcome(res: Response, status: number, outcome: unknown): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(outcome));
}

export function sendResource(res: Response, status: number, resource: Resource | object): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(withoutEmptyEntry(resource)));
}

/** A Bundle without matches has no `entry` at all: FHIR JSON has no empty arrays. */
function withoutEmptyEntry(resource: Resource | object): Resource | object {
  const b = resource as { resourceType?: string; entry?: unknown[] };
  if (b.resourceType !== 'Bundle' || !Array.isArray(b.entry) || b.entry.length > 0) return resource;
  const { entry: _entry, ...rest } = b;
  return rest;
}

/** ETag / Last-Modified of a stored resource. */
export function setVersionHeaders(res: Response, resource: Resource): void {
  if (resource.meta?.versionId) res.setHeader('ETag', `W/"${resource.meta.versionId}"`);
  if (resource.meta?.lastUpdated) res.setHeader('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
}

/** True when If-None-Match / If-Modified-Since say the client's copy is current (→ 304). */
export function notModified(req: Request, resource: Resource): boolean {
  const inm = req.headers['if-none-match'];
  if (typeof inm === 'string' && resource.meta?.versionId) {
    const tags = inm.split(',').map((t) => t.trim());
    return tags.includes('*') || tags.some((t) => t.replace(/^W\//, '') === `"${resource.meta!.versionId}"`);
  }
  const ims = req.headers['if-modified-since'];
  if (typeof ims === 'string' && resource.meta?.lastUpdated) {
    const since = Date.parse(ims);
    if (!Number.isNaN(since)) return Math.floor(Date.parse(resource.meta.lastUpdated) / 1000) * 1000 <= since;
  }
  return false;
}

/** The version an `If-Match: W/"3"` header asks for. */
export function ifMatchVersion(req: Request): string | undefined {
  const h = req.headers['if-match'];
  if (typeof h !== 'string' || h.trim() === '') return undefined;
  const m = /^(?:W\/)?"([^"]+)"$/.exec(h.trim());
  if (!m) throw new FhirError(400, 'invalid', 'If-Match must be an ETag such as W/"3"');
  return m[1];
}

export type Access = 'read' | 'search' | 'create' | 'update' | 'delete';

const V2_LETTER: Record<Access, string> = { read: 'r', search: 's', create: 'c', update: 'u', delete: 'd' };

/**
 * SMART system scopes: `system/<Type|*>.read` (read, vread, history, search) and `.write` (create, update, delete),
 * `.*` for both; SMART v2 `system/<Type|*>.cruds` letters are accepted too.
 */
function scopeAllows(scopes: Set<string>, type: string, access: Access): boolean {
  const v1 = access === 'read' || access === 'search' ? 'read' : 'write';
  for (const subject of [type, '*']) {
    if (scopes.has(`system/${subject}.${v1}`) || scopes.has(`system/${subject}.*`)) return true;
  }
  for (const s of scopes) {
    const m = /^system\/([A-Za-z]+|\*)\.([cruds]+)(?:\?.*)?$/.exec(s);
    if (m && (m[1] === type || m[1] === '*') && m[2].includes(V2_LETTER[access])) return true;
  }
  return false;
}

function requiredScope(type: string, access: Access): string {
  return `system/${type}.${access === 'read' || access === 'search' ? 'read' : 'write'}`;
}

const VERIFIED_CAPACITY = 5_000;
const VERIFIED_TTL_MS = 60_000;

/**
 * 401 as OperationOutcome (the foundation's wording in diagnostics) unless a valid bearer token is presented.
 * Verified tokens are remembered for up to a minute (never past their `exp`), so a client's burst of requests costs
 * one signature verification.
 */
export function fhirAuthenticate(ctx: FhirAuthDeps): RequestHandler {
  const verified = new Map<string, { auth: AuthContext; until: number }>();
  return (req, res, next) => {
    const cached = verified.get(req.headers.authorization ?? '');
    if (cached && cached.until > Date.now()) {
      req.auth = cached.auth;
      next();
      return;
    }
    const header = req.headers.authorization ?? '';
    if (!/^Bearer\s+\S/i.test(header)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      sendOutcome(res, 401, operationOutcome('login', "Authorization header is not set or doesn't contain Bearer token"));
      return;
    }
    ctx.auth.verify(header).then(
      (auth) => {
        if (!auth) {
          res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
          sendOutcome(res, 401, operationOutcome('login', 'Invalid access token'));
          return;
        }
        req.auth = auth;
        const exp = typeof auth.claims.exp === 'number' ? auth.claims.exp * 1000 : Date.now() + VERIFIED_TTL_MS;
        if (verified.size >= VERIFIED_CAPACITY) verified.delete(verified.keys().next().value!);
        verified.set(header, { auth, until: Math.min(exp, Date.now() + VERIFIED_TTL_MS) });
        next();
      },
      (err: unknown) => next(err),
    );
  };
}

/** Throws 403 unless the token's scopes allow `access` to `type`. */
export function checkScope(req: Request, type: string, access: Access): void {
  if (!req.auth || !scopeAllows(req.auth.scopes, type, access)) {
    throw new FhirError(
      403,
      'forbidden',
      `Your scope does not allow to access this resource. Missing allowances: ${requiredScope(type, access)}`,
    );
  }
}
