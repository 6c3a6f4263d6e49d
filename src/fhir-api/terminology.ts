/**
 * FHIR terminology over the dictionaries (mounted under /fhir; read-only; JSON; errors as OperationOutcome):
 *
 *   GET  /CodeSystem                               search: url, system, name, title, version, status, _id, _count;
 *                                                  entries in the summary form (no concepts: content not-present,
 *                                                  tagged SUBSETTED) unless _summary=false
 *   GET  /CodeSystem/{id}                          full CodeSystem (concepts nested by hierarchy); _summary=true
 *   GET|POST /CodeSystem/$lookup                   system + code (or coding), displayLanguage; also /CodeSystem/{id}/$lookup
 *   GET|POST /CodeSystem/$validate-code            url|system + code (+display), coding; also /CodeSystem/{id}/$validate-code
 *   GET  /ValueSet, /ValueSet/{id}                 the all-active-codes ValueSet of each dictionary
 *   GET|POST /ValueSet/$validate-code              url + code/system/display, coding or codeableConcept; also /ValueSet/{id}/…
 *   GET  /ValueSet/$expand, /ValueSet/{id}/$expand url, filter, offset, count (max 1000), displayLanguage
 *
 * Scope: `dictionaries:read`, or a SMART system scope allowing reads of CodeSystem / ValueSet (system/CodeSystem.read,
 * system/*.read, system/*.rs …). $validate-code answers what `ctx.dictionaries.isValidCode` answers: inactive codes,
 * unknown codes and hierarchy groups are not valid.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Bundle, CodeableConcept, Coding, Parameters, Resource } from '@medplum/fhirtypes';
import { FhirError, operationOutcome } from '../fhir-store/errors.js';
import { outcomeCode } from './http-support.js';
import type { DictionaryService } from '../dictionaries/service.js';
import type { Authenticator } from '../platform/auth/middleware.js';
import type { Config } from '../platform/config/config.js';
import { jsonBody } from '../platform/http/body.js';
import { clientError } from '../platform/http/errors.js';
import { log } from '../platform/logging/logger.js';
import type { LoadedDictionary } from '../dictionaries/service.js';
import { codeSystemUrl, computableName, expansion, lookupParameters, toCodeSystem, toValueSet, validateCode, verdictParameters, type ValidationVerdict } from '../dictionaries/terminology.js';

/** What the terminology operations use of the engine. */
interface TerminologyDeps {
  /** Verifies bearer tokens. */
  readonly auth: Authenticator;
  /** The engine configuration. */
  readonly config: Config;
  /** Code lists. */
  readonly dictionaries: DictionaryService;
}

const FHIR_JSON = 'application/fhir+json';
const READ_SCOPE = 'dictionaries:read';

function send(res: Response, status: number, body: unknown): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(body));
}

/** dictionaries:read, or SMART system/<CodeSystem|ValueSet|*>.read / .* / v2 letters with r or s. */
function terminologyScopeAllows(scopes: Set<string>, type: 'CodeSystem' | 'ValueSet'): boolean {
  if (scopes.has(READ_SCOPE)) return true;
  for (const s of scopes) {
    const m = /^system\/([A-Za-z]+|\*)\.(read|\*|[cruds]+)(?:\?.*)?$/.exec(s);
    if (m && (m[1] === type || m[1] === '*') && (m[2] === 'read' || m[2] === '*' || /[rs]/.test(m[2]))) return true;
  }
  return false;
}

type Params = Map<string, unknown[]>;

/** Operation parameters from the query string (GET) or a Parameters resource (POST). */
function operationParams(req: Request): Params {
  const out: Params = new Map();
  const add = (k: string, v: unknown) => out.set(k, [...(out.get(k) ?? []), v]);
  if (req.method === 'GET') {
    for (const [k, v] of Object.entries(req.query)) for (const x of Array.isArray(v) ? v : [v]) if (typeof x === 'string') add(k, x);
    return out;
  }
  const body = req.body as Parameters | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body) || body.resourceType !== 'Parameters') {
    throw new FhirError(400, 'structure', 'The body must be a Parameters resource (Content-Type: application/fhir+json)');
  }
  if (body.parameter !== undefined && !Array.isArray(body.parameter)) throw new FhirError(400, 'structure', 'Parameters.parameter must be an array');
  for (const p of body.parameter ?? []) {
    if (typeof p?.name !== 'string') continue;
    const value = Object.entries(p).find(([k]) => k.startsWith('value'))?.[1];
    if (value !== undefined) add(p.name, value);
  }
  for (const [k, v] of Object.entries(req.query)) if (typeof v === 'string' && !out.has(k)) add(k, v);
  return out;
}

function one(params: Params, name: string): string | undefined {
  const v = params.get(name);
  if (!v || v.length === 0) return undefined;
  if (v.length > 1) throw new FhirError(400, 'invalid', `Parameter "${name}" given more than once`);
  if (typeof v[0] !== 'string') throw new FhirError(400, 'invalid', `Parameter "${name}" must be a string`);
  return v[0];
}

function oneObject<T>(params: Params, name: string): T | undefined {
  const v = params.get(name);
  if (!v || v.length === 0) return undefined;
  if (v.length > 1 || typeof v[0] !== 'object' || v[0] === null) throw new FhirError(400, 'invalid', `Parameter "${name}" must be given once, as a ${name === 'coding' ? 'Coding' : 'CodeableConcept'}`);
  const concept = v[0] as { coding?: unknown };
  const codings = name === 'coding' ? [v[0]] : concept.coding === undefined ? [] : Array.isArray(concept.coding) ? concept.coding : [null];
  for (const c of codings as Record<string, unknown>[]) {
    const bad = !c || typeof c !== 'object' || ['system', 'code', 'display', 'version'].some((k) => c[k] !== undefined && typeof c[k] !== 'string');
    if (bad) throw new FhirError(400, 'invalid', `Parameter "${name}" has a Coding whose system, code, display or version is not a string`);
  }
  return v[0] as T;
}

function intParam(value: string | undefined, name: string, def: number, max: number): number {
  if (value === undefined) return def;
  if (!/^\d+$/.test(value) || Number(value) > max) throw new FhirError(400, 'invalid', `${name} must be an integer from 0 to ${max}`);
  return Number(value);
}

export function fhirTerminologyRouter(ctx: TerminologyDeps): Router {
  const router = Router();
  const base = ctx.config.dictionaries.canonicalBase;
  const service = ctx.dictionaries;
  const parseBody = jsonBody({ limit: '1mb', type: ['application/json', 'application/fhir+json', 'application/*+json'] });

  const guard = (type: 'CodeSystem' | 'ValueSet') => async (req: Request, res: Response, next: NextFunction) => {
    // Inside the FHIR router (as one of its extensions) the token is verified already.
    if (req.auth) {
      if (!terminologyScopeAllows(req.auth.scopes, type)) {
        return send(res, 403, operationOutcome('forbidden', `Your scope does not allow to access this resource. Missing allowances: ${READ_SCOPE} (or system/${type}.read)`));
      }
      return req.method === 'POST' ? parseBody(req, res, next) : next();
    }
    const header = req.headers.authorization ?? '';
    if (!/^Bearer\s+\S/i.test(header)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return send(res, 401, operationOutcome('login', "Authorization header is not set or doesn't contain Bearer token"));
    }
    const auth = await ctx.auth.verify(header);
    if (!auth) {
      res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
      return send(res, 401, operationOutcome('login', 'Invalid access token'));
    }
    req.auth = auth;
    if (!terminologyScopeAllows(auth.scopes, type)) {
      return send(res, 403, operationOutcome('forbidden', `Your scope does not allow to access this resource. Missing allowances: ${READ_SCOPE} (or system/${type}.read)`));
    }
    if (req.method === 'POST') return parseBody(req, res, next);
    next();
  };

  const wrap =
    (fn: (req: Request, res: Response) => Promise<void>) =>
    (req: Request, res: Response, next: NextFunction): void => {
      fn(req, res).catch(next);
    };

  /** A dictionary by canonical URL (optionally `|version`), FHIR id URL, alias (OID, eHealth system, name). */
  async function bySystem(system: string, kind: 'CodeSystem' | 'ValueSet' = 'CodeSystem'): Promise<LoadedDictionary | undefined> {
    const [url, version] = system.split('|');
    let d: LoadedDictionary | undefined;
    const prefix = `${base}/${kind}/`;
    if (url.startsWith(prefix)) d = await service.get(url.slice(prefix.length), { byFhirId: true });
    else if (kind === 'ValueSet' && url.endsWith('?vs')) d = await bySystem(url.slice(0, -3));
    else if (kind === 'CodeSystem') d = await service.get(url);
    if (d && version !== undefined && version !== d.meta.version) return undefined;
    return d;
  }

  async function byId(id: string): Promise<LoadedDictionary> {
    const d = /^[A-Za-z0-9\-.]{1,64}$/.test(id) ? await service.get(id, { byFhirId: true }) : undefined;
    if (!d) throw new FhirError(404, 'not-found', `Resource ${id.slice(0, 64)} is not known`);
    return d;
  }

  async function all(): Promise<LoadedDictionary[]> {
    const names = await service.names();
    const out: LoadedDictionary[] = [];
    for (const n of names) {
      const d = await service.get(n);
      if (d) out.push(d);
    }
    return out;
  }

  function serverBase(req: Request): string {
    const configured = (ctx.config as { fhir?: { baseUrl?: string } }).fhir?.baseUrl;
    return configured ?? `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}`;
  }

  async function search(req: Request, res: Response, type: 'CodeSystem' | 'ValueSet'): Promise<void> {
    const q = req.query as Record<string, unknown>;
    const known = new Set(['url', 'system', 'name', 'title', 'version', 'status', '_id', '_summary', '_count', '_format']);
    for (const k of Object.keys(q)) if (!known.has(k)) throw new FhirError(400, 'not-supported', `Search parameter "${k.slice(0, 50)}" is not supported`);
    const str = (k: string) => {
      const v = q[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'string') throw new FhirError(400, 'invalid', `Search parameter "${k}" given more than once`);
      return v;
    };
    const summary = str('_summary');
    if (summary !== undefined && !['true', 'false', 'count'].includes(summary)) throw new FhirError(400, 'not-supported', '_summary must be true, false or count');
    const count = intParam(str('_count'), '_count', 1000, 1000);
    let list = await all();
    const url = str('url');
    if (url !== undefined) {
      const d = await bySystem(url, type);
      list = d ? [d] : [];
    }
    const system = str('system');
    if (system !== undefined) {
      const d = await bySystem(system, 'CodeSystem');
      list = list.filter((x) => d && x.name === d.name);
    }
    const contains = (k: string, get: (d: LoadedDictionary) => string) => {
      const v = str(k)?.toLowerCase();
      if (v !== undefined) list = list.filter((d) => get(d).toLowerCase().includes(v));
    };
    contains('name', (d) => `${computableName(d.name)} ${d.name}`);
    contains('title', (d) => d.meta.title ?? d.name);
    const version = str('version');
    if (version !== undefined) list = list.filter((d) => d.meta.version === version);
    const status = str('status');
    if (status !== undefined) list = list.filter((d) => (d.meta.starter ? 'draft' : 'active') === status);
    const id = str('_id');
    if (id !== undefined) list = list.filter((d) => d.fhirId === id);
    const full = summary === 'false';
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: list.length,
      link: [{ relation: 'self', url: `${serverBase(req)}${req.path}` }],
    };
    if (summary !== 'count' && count > 0 && list.length > 0) {
      bundle.entry = list.slice(0, count).map((d) => ({
        fullUrl: `${serverBase(req)}/${type}/${d.fhirId}`,
        resource: (type === 'CodeSystem' ? toCodeSystem(d, base, full) : toValueSet(d, base)) as Resource,
        search: { mode: 'match' as const },
      }));
    }
    send(res, 200, bundle);
  }

  function sendVersioned(req: Request, res: Response, d: LoadedDictionary, resource: Resource): void {
    const etag = `W/"${d.revision}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Last-Modified', new Date(d.updatedAt).toUTCString());
    const inm = req.headers['if-none-match'];
    if (typeof inm === 'string' && inm.split(',').map((t) => t.trim()).includes(etag)) {
      res.status(304).end();
      return;
    }
    send(res, 200, resource);
  }

  async function lookup(req: Request, res: Response, fixed?: LoadedDictionary): Promise<void> {
    const params = operationParams(req);
    const coding = oneObject<Coding>(params, 'coding');
    const code = one(params, 'code') ?? coding?.code;
    const system = one(params, 'system') ?? coding?.system;
    const language = one(params, 'displayLanguage');
    if (!code) throw new FhirError(400, 'required', 'code (with system) or coding is required');
    let d = fixed;
    if (!d) {
      if (!system) throw new FhirError(400, 'required', 'system is required');
      d = await bySystem(system);
      if (!d) throw new FhirError(404, 'not-found', `Unknown code system "${system.slice(0, 200)}"`);
    } else if (system && (await bySystem(system))?.name !== d.name) {
      throw new FhirError(400, 'invalid', `system "${system.slice(0, 200)}" is not ${codeSystemUrl(base, d)}`);
    }
    const out = lookupParameters(d, code, language);
    if (!out) throw new FhirError(404, 'not-found', `Unknown code "${code.slice(0, 100)}" in ${codeSystemUrl(base, d)}`);
    send(res, 200, out);
  }

  /** The codings to check: code(+system, display), coding, or every coding of codeableConcept (any valid → valid). */
  function codingsOf(params: Params): { codings: Coding[]; display?: string } {
    const code = one(params, 'code');
    const coding = oneObject<Coding>(params, 'coding');
    const concept = oneObject<CodeableConcept>(params, 'codeableConcept');
    const display = one(params, 'display');
    if (code !== undefined) return { codings: [{ system: one(params, 'system'), code, display }], display };
    if (coding) return { codings: [coding] };
    if (concept) return { codings: concept.coding ?? [] };
    throw new FhirError(400, 'required', 'code, coding or codeableConcept is required');
  }

  async function check(d: LoadedDictionary, coding: Coding, language?: string): Promise<ValidationVerdict> {
    if (!coding.code) return { result: false, message: 'A coding has no code' };
    if (coding.system) {
      const s = await bySystem(coding.system);
      if (!s || s.name !== d.name) {
        return { result: false, message: `System "${coding.system}" is not ${codeSystemUrl(base, d)}${s ? ` (it is ${codeSystemUrl(base, s)})` : ''}`, code: coding.code };
      }
    }
    return validateCode(d, codeSystemUrl(base, d), coding.code, coding.display, language);
  }

  async function validate(req: Request, res: Response, kind: 'CodeSystem' | 'ValueSet', fixed?: LoadedDictionary): Promise<void> {
    const params = operationParams(req);
    let d = fixed;
    const url = one(params, 'url');
    if (!d) {
      const target = url ?? (kind === 'CodeSystem' ? one(params, 'system') ?? oneObject<Coding>(params, 'coding')?.system : undefined);
      if (!target) throw new FhirError(400, 'required', kind === 'ValueSet' ? 'url (the ValueSet) is required' : 'url or system is required');
      d = await bySystem(target, url !== undefined ? kind : 'CodeSystem');
      if (!d) throw new FhirError(404, 'not-found', `Unknown ${kind} "${target.slice(0, 200)}"`);
    }
    const language = one(params, 'displayLanguage');
    const { codings } = codingsOf(params);
    if (codings.length === 0) throw new FhirError(400, 'required', 'The codeableConcept has no coding');
    const verdicts: ValidationVerdict[] = [];
    for (const c of codings) verdicts.push(await check(d, c, language));
    const ok = verdicts.find((v) => v.result);
    const verdict = ok ?? (verdicts.length === 1 ? verdicts[0] : { result: false, message: verdicts.map((v) => v.message).filter(Boolean).join('; ') });
    send(res, 200, verdictParameters(verdict));
  }

  async function expand(req: Request, res: Response, fixed?: LoadedDictionary): Promise<void> {
    const params = operationParams(req);
    let d = fixed;
    if (!d) {
      const url = one(params, 'url');
      if (!url) throw new FhirError(400, 'required', 'url is required');
      d = await bySystem(url, 'ValueSet');
      if (!d) throw new FhirError(404, 'not-found', `Unknown ValueSet "${url.slice(0, 200)}"`);
    }
    const offset = intParam(one(params, 'offset'), 'offset', 0, 10_000_000);
    const count = intParam(one(params, 'count'), 'count', 100, 1000);
    send(res, 200, expansion(d, base, { filter: one(params, 'filter'), offset, count, language: one(params, 'displayLanguage') }));
  }

  const cs = guard('CodeSystem');
  const vs = guard('ValueSet');
  router.get('/CodeSystem', cs, wrap((req, res) => search(req, res, 'CodeSystem')));
  router.get('/CodeSystem/\\$lookup', cs, wrap((req, res) => lookup(req, res)));
  router.post('/CodeSystem/\\$lookup', cs, wrap((req, res) => lookup(req, res)));
  router.get('/CodeSystem/\\$validate-code', cs, wrap((req, res) => validate(req, res, 'CodeSystem')));
  router.post('/CodeSystem/\\$validate-code', cs, wrap((req, res) => validate(req, res, 'CodeSystem')));
  router.get('/CodeSystem/:id', cs, wrap(async (req, res) => {
    const d = await byId(String(req.params.id));
    const summary = req.query._summary;
    if (summary !== undefined && summary !== 'true' && summary !== 'false') throw new FhirError(400, 'not-supported', '_summary must be true or false');
    sendVersioned(req, res, d, toCodeSystem(d, base, summary !== 'true'));
  }));
  router.get('/CodeSystem/:id/\\$lookup', cs, wrap(async (req, res) => lookup(req, res, await byId(String(req.params.id)))));
  router.post('/CodeSystem/:id/\\$lookup', cs, wrap(async (req, res) => lookup(req, res, await byId(String(req.params.id)))));
  router.get('/CodeSystem/:id/\\$validate-code', cs, wrap(async (req, res) => validate(req, res, 'CodeSystem', await byId(String(req.params.id)))));
  router.post('/CodeSystem/:id/\\$validate-code', cs, wrap(async (req, res) => validate(req, res, 'CodeSystem', await byId(String(req.params.id)))));

  router.get('/ValueSet', vs, wrap((req, res) => search(req, res, 'ValueSet')));
  router.get('/ValueSet/\\$validate-code', vs, wrap((req, res) => validate(req, res, 'ValueSet')));
  router.post('/ValueSet/\\$validate-code', vs, wrap((req, res) => validate(req, res, 'ValueSet')));
  router.get('/ValueSet/\\$expand', vs, wrap((req, res) => expand(req, res)));
  router.post('/ValueSet/\\$expand', vs, wrap((req, res) => expand(req, res)));
  router.get('/ValueSet/:id', vs, wrap(async (req, res) => {
    const d = await byId(String(req.params.id));
    sendVersioned(req, res, d, toValueSet(d, base));
  }));
  router.get('/ValueSet/:id/\\$validate-code', vs, wrap(async (req, res) => validate(req, res, 'ValueSet', await byId(String(req.params.id)))));
  router.post('/ValueSet/:id/\\$validate-code', vs, wrap(async (req, res) => validate(req, res, 'ValueSet', await byId(String(req.params.id)))));
  router.get('/ValueSet/:id/\\$expand', vs, wrap(async (req, res) => expand(req, res, await byId(String(req.params.id)))));
  router.post('/ValueSet/:id/\\$expand', vs, wrap(async (req, res) => expand(req, res, await byId(String(req.params.id)))));

  // Errors of these routes as OperationOutcome (other /fhir paths are not touched: they fall through).
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    if (err instanceof FhirError) {
      if (err.status >= 500) log().error({ err: { message: err.message } }, 'terminology error');
      else log().warn({ status: err.status, code: err.code }, 'terminology request rejected');
      return send(res, err.status, err.outcome);
    }
    const parsed = clientError(err);
    if (parsed) return send(res, parsed.status, operationOutcome(outcomeCode(parsed.status), parsed.message));
    log().error({ err: { message: (err as Error)?.message, stack: (err as Error)?.stack } }, 'terminology request failed');
    send(res, 500, operationOutcome('exception', 'Internal server error', 'fatal'));
  });
  return router;
}

/** For the CapabilityStatement of the FHIR API. */
export const terminologyCapability = {
  resources: [
    {
      type: 'CodeSystem',
      documentation: 'Read-only: every dictionary of the engine (see /api/dictionaries) as a CodeSystem.',
      operations: [
        { name: 'lookup', definition: 'http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup' },
        { name: 'validate-code', definition: 'http://hl7.org/fhir/OperationDefinition/CodeSystem-validate-code' },
      ],
    },
    {
      type: 'ValueSet',
      documentation: 'Read-only: one all-active-codes ValueSet per dictionary.',
      operations: [
        { name: 'validate-code', definition: 'http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code' },
        { name: 'expand', definition: 'http://hl7.org/fhir/OperationDefinition/ValueSet-expand' },
      ],
    },
  ],
};

