/**
 * The FHIR R4 REST API under /fhir: metadata, read, vread, search-type (GET and POST _search), history-instance,
 * create (with If-None-Exist), update (with If-Match), delete for the writable types. Every response is
 * application/fhir+json; every error an OperationOutcome (also unknown routes, bad JSON and too large bodies).
 *
 * Other modules add FHIR routes or operations (e.g. ValueSet/$expand) by passing them to `fhirRouter(ctx, extensions)`
 * (the composition root does): their routers run after authentication, content
 * negotiation and body parsing, before the generic interactions, and their errors are rendered as OperationOutcome.
 * Use `checkScope(req, type, 'read')` from http-support.ts inside them.
 */
import { randomUUID } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import type { Bundle, BundleEntry, BundleLink, Resource } from '@medplum/fhirtypes';
import { formBody, jsonBody } from '../platform/http/body.js';
import type { FhirStorage } from '../fhir-store/repository.js';
import type { Config } from '../platform/config/config.js';
import type { AuditInteraction, AuditTrail } from '../fhir-store/ports.js';
import { capabilityStatement, type CapabilityAdditions } from './capability.js';
import { FhirError, operationOutcome } from '../fhir-store/errors.js';
import {
  checkScope,
  fhirAuthenticate,
  type FhirAuthDeps,
  fhirErrorHandler,
  FHIR_JSON,
  ifMatchVersion,
  negotiate,
  notModified,
  sendOutcome,
  sendResource,
  setVersionHeaders,
} from './http-support.js';
import type { SearchPage } from '../fhir-store/search.js';
import type { ParsedSearch } from '../fhir-store/search-params.js';
import { typeDef } from '../fhir-store/resource-types.js';
import { ownTenant } from '../platform/tenancy/request-tenant.js';

/** What the FHIR REST API uses of the engine. */
interface FhirRouterDeps extends FhirAuthDeps {
  /** Where reads and searches of personal data are recorded. */
  readonly audit: AuditTrail;
  /** The engine configuration. */
  readonly config: Config;
  /** FHIR storage (the repository of each tenant). */
  readonly fhir: FhirStorage;
}

interface FhirExtension {
  router: Router;
  capability?: CapabilityAdditions;
}

const TYPE_RE = /^[A-Z][A-Za-z]{1,63}$/;

interface Prefer {
  handling?: 'strict' | 'lenient';
  return?: 'minimal' | 'representation' | 'OperationOutcome';
}

function prefer(req: Request): Prefer {
  const out: Prefer = {};
  const raw = req.headers.prefer;
  const text = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  for (const part of text.split(/[,;]/)) {
    const [k, v] = part.split('=').map((s) => s?.trim().replace(/^"|"$/g, ''));
    if (k === 'handling' && (v === 'strict' || v === 'lenient')) out.handling = v;
    if (k === 'return' && (v === 'minimal' || v === 'representation' || v === 'OperationOutcome')) out.return = v;
  }
  return out;
}

function knownType(type: string, id?: string): void {
  if (!TYPE_RE.test(type) || !typeDef(type)) throw new FhirError(404, 'not-supported', `Resource type ${type.slice(0, 64)} is not supported`);
  // type-level _history and $operations are not implemented (they would otherwise look like ids)
  if (id !== undefined && /^[_$]/.test(id)) throw new FhirError(404, 'not-supported', `${type}/${id.slice(0, 64)} is not supported`);
}

function queryParams(req: Request, body?: unknown): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const add = (src: unknown) => {
    if (!src || typeof src !== 'object') return;
    for (const [k, v] of Object.entries(src as Record<string, unknown>)) {
      const vals = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
      if (vals.length === 0) continue;
      const prev = out[k];
      out[k] = prev === undefined ? (vals.length === 1 ? vals[0] : vals) : [...(Array.isArray(prev) ? prev : [prev]), ...vals];
    }
  };
  add(req.query);
  add(body);
  return out;
}

function encodeQuery(pairs: [string, string][]): string {
  return pairs.map(([k, v]) => `${encodeURIComponent(k).replace(/%3A/g, ':')}=${encodeURIComponent(v)}`).join('&');
}

export function fhirRouter(ctx: FhirRouterDeps, extensions: FhirExtension[] = []): Router {
  const router = express.Router();
  const limit = ctx.config.bodyLimitBytes;
  const configuredBase = (ctx.config as { fhir?: { baseUrl?: string } }).fhir?.baseUrl;
  const baseUrl = (req: Request) => configuredBase ?? `${req.protocol}://${req.get('host') ?? 'localhost'}/fhir`;
  const personal = (type: string) => typeDef(type)?.personal === true;
  /** The repository of the caller's tenant: every interaction sees only that tenant's resources. */
  const repo = (req: Request) => ctx.fhir.forTenant(ownTenant(req));

  const audit = (req: Request, interaction: AuditInteraction, type: string, resources: Resource[], query?: string) => {
    if (!personal(type) && interaction !== 'create' && interaction !== 'update' && interaction !== 'delete') return Promise.resolve();
    return ctx.audit.record({
      interaction,
      type,
      tenant: ownTenant(req),
      userId: req.auth!.userId,
      clientId: req.auth!.clientId,
      address: req.socket.remoteAddress,
      query,
      resources,
      requestId: typeof req.id === 'string' ? req.id : undefined,
    });
  };

  router.use(negotiate());
  router.use(fhirAuthenticate(ctx));
  router.use((req, _res, next) => {
    if ((req.method === 'POST' || req.method === 'PUT') && req.headers['content-type']) {
      const ct = req.headers['content-type'].split(';')[0].trim().toLowerCase();
      const isSearch = req.path.endsWith('/_search');
      const ok = isSearch ? ct === 'application/x-www-form-urlencoded' || ct.endsWith('json') : ct === 'application/json' || ct.endsWith('+json');
      if (!ok) return next(new FhirError(415, 'not-supported', `Content-Type ${ct.slice(0, 60)} is not supported (use ${FHIR_JSON})`));
    }
    next();
  });
  router.use(jsonBody({ limit }));
  router.use(formBody({ limit }));
  for (const ext of extensions) router.use(ext.router);

  const capabilities = new Map<string, string>(); // per base URL: the statement is static for a running engine
  router.get('/metadata', (req, res) => {
    const base = baseUrl(req);
    let json = capabilities.get(base);
    if (!json) {
      json = JSON.stringify(capabilityStatement(base, extensions.map((e) => e.capability).filter((c): c is CapabilityAdditions => !!c)));
      if (capabilities.size < 100) capabilities.set(base, json);
    }
    res.status(200).type(FHIR_JSON).send(json);
  });

  // ---- search
  const search = async (req: Request, res: Response, body?: unknown) => {
    const type = req.params.type as string;
    knownType(type);
    checkScope(req, type, 'search');
    const params = queryParams(req, body);
    const base = baseUrl(req);
    const ps = ctx.fhir.parse(type, params, { baseUrl: base });
    const handling = prefer(req).handling ?? 'lenient';
    if (ps.unknown.length > 0 && handling === 'strict') {
      throw new FhirError(400, 'not-supported', `Unknown or unsupported search parameter(s) for ${type}: ${ps.unknown.join(', ')}`);
    }
    const page = await repo(req).searchPage(ps);
    const bundle = searchBundle(base, ps, page);
    if (ps.unknown.length > 0) {
      bundle.entry!.push({
        // Every entry of a searchset has a fullUrl; the outcome has no id, so a urn:uuid names it.
        fullUrl: `urn:uuid:${randomUUID()}`,
        resource: operationOutcome('not-supported', `Ignored unknown search parameter(s): ${ps.unknown.join(', ')}`, 'warning'),
        search: { mode: 'outcome' },
      });
    }
    const rawQuery = encodeQuery(Object.entries(params).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => [k, x] as [string, string])));
    await audit(req, 'search-type', type, [...page.matches, ...page.included], rawQuery);
    sendResource(res, 200, bundle);
  };
  router.get('/:type', (req, res) => search(req, res));
  router.post('/:type/_search', (req, res) => search(req, res, req.body));

  // ---- read / vread / history
  router.get('/:type/:id', async (req, res) => {
    const type = req.params.type as string;
    knownType(type, req.params.id as string);
    checkScope(req, type, 'read');
    const resource = await repo(req).read(type, req.params.id as string);
    setVersionHeaders(res, resource);
    if (notModified(req, resource)) {
      res.status(304).end();
      return;
    }
    await audit(req, 'read', type, [resource]);
    sendResource(res, 200, resource);
  });

  router.get('/:type/:id/_history/:vid', async (req, res) => {
    const type = req.params.type as string;
    knownType(type);
    checkScope(req, type, 'read');
    const resource = await repo(req).vread(type, req.params.id as string, req.params.vid as string);
    setVersionHeaders(res, resource);
    if (notModified(req, resource)) {
      res.status(304).end();
      return;
    }
    await audit(req, 'vread', type, [resource]);
    sendResource(res, 200, resource);
  });

  router.get('/:type/:id/_history', async (req, res) => {
    const type = req.params.type as string;
    const id = req.params.id as string;
    knownType(type);
    checkScope(req, type, 'read');
    const count = numberParam(req.query._count, 50, 1000);
    const offset = numberParam(req.query._offset, 0, 1_000_000);
    const { entries, total } = await repo(req).historyEntries(type, id, { offset, count });
    const base = baseUrl(req);
    const self = `${base}/${type}/${id}/_history`;
    const links: BundleLink[] = [{ relation: 'self', url: `${self}?_count=${count}${offset ? `&_offset=${offset}` : ''}` }];
    if (offset + count < total) links.push({ relation: 'next', url: `${self}?_count=${count}&_offset=${offset + count}` });
    if (offset > 0) links.push({ relation: 'previous', url: `${self}?_count=${count}&_offset=${Math.max(0, offset - count)}` });
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'history',
      total,
      link: links,
      entry: entries.map((e): BundleEntry => ({
        fullUrl: `${base}/${type}/${id}`,
        ...(e.resource ? { resource: e.resource } : {}),
        request: e.deleted
          ? { method: 'DELETE', url: `${type}/${id}` }
          : e.versionId === '1'
            ? { method: 'POST', url: type }
            : { method: 'PUT', url: `${type}/${id}` },
        response: {
          status: e.deleted ? '204' : e.versionId === '1' ? '201' : '200',
          etag: `W/"${e.versionId}"`,
          lastModified: e.lastUpdated,
        },
      })),
    };
    await audit(req, 'history-instance', type, entries.flatMap((e) => (e.resource ? [e.resource] : [])).slice(0, 1));
    sendResource(res, 200, bundle);
  });

  // ---- writes
  const writable = (req: Request, type: string, access: 'create' | 'update' | 'delete', id?: string) => {
    knownType(type, id);
    checkScope(req, type, access);
    if (!typeDef(type)!.writable) throw new FhirError(405, 'not-supported', `${type} cannot be written through the API`);
  };
  const bodyResource = (req: Request, type: string): Resource => {
    const body = req.body as Resource | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length === 0) {
      throw new FhirError(400, 'invalid', `The request body must be a ${type} resource (${FHIR_JSON})`);
    }
    if (body.resourceType !== type) throw new FhirError(400, 'invalid', `resourceType must be ${type}, got ${String(body.resourceType).slice(0, 64)}`);
    return body;
  };
  const answerWrite = (req: Request, res: Response, status: number, resource: Resource) => {
    const base = baseUrl(req);
    setVersionHeaders(res, resource);
    res.setHeader('Location', `${base}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`);
    const ret = prefer(req).return ?? 'representation';
    if (ret === 'minimal') res.status(status).end();
    else if (ret === 'OperationOutcome') sendOutcome(res, status, operationOutcome('informational', `${resource.resourceType}/${resource.id} version ${resource.meta?.versionId} stored`, 'information'));
    else sendResource(res, status, resource);
  };

  router.post('/:type', async (req, res) => {
    const type = req.params.type as string;
    writable(req, type, 'create');
    const body = bodyResource(req, type);
    const { id: _ignored, ...resource } = body;
    const ine = req.headers['if-none-exist'];
    if (typeof ine === 'string' && ine.trim() !== '') {
      const q = Object.fromEntries(
        [...new URLSearchParams(ine.replace(/^.*\?/, '')).entries()].reduce((m, [k, v]) => {
          m.set(k, [...(m.get(k) ?? []), v]);
          return m;
        }, new Map<string, string[]>()),
      );
      const { resource: r, created } = await repo(req).conditionalCreate(resource as Resource, q);
      if (created) await audit(req, 'create', type, [r]);
      answerWrite(req, res, created ? 201 : 200, r);
      return;
    }
    const created = await repo(req).create(resource as Resource);
    await audit(req, 'create', type, [created]);
    answerWrite(req, res, 201, created);
  });

  router.put('/:type/:id', async (req, res) => {
    const type = req.params.type as string;
    writable(req, type, 'update', req.params.id as string);
    const body = bodyResource(req, type);
    if (!body.id) throw new FhirError(400, 'required', 'The resource must carry its id (equal to the id in the URL)');
    if (typeof body.id !== 'string') throw new FhirError(400, 'invalid', 'Resource.id must be a string');
    if (body.id !== req.params.id) throw new FhirError(400, 'invalid', `Resource id ${body.id.slice(0, 64)} does not match the URL id ${String(req.params.id).slice(0, 64)}`);
    const updated = await repo(req).update(body, { ifMatchVersion: ifMatchVersion(req) });
    await audit(req, 'update', type, [updated]);
    answerWrite(req, res, updated.meta?.versionId === '1' ? 201 : 200, updated);
  });

  router.delete('/:type/:id', async (req, res) => {
    const type = req.params.type as string;
    writable(req, type, 'delete', req.params.id as string);
    await repo(req).delete(type, req.params.id as string, { ifMatchVersion: ifMatchVersion(req) });
    await audit(req, 'delete', type, [{ resourceType: type, id: req.params.id } as Resource]);
    sendOutcome(res, 200, operationOutcome('informational', `${type}/${req.params.id} deleted`, 'information'));
  });

  router.use((req, _res, next) => {
    next(new FhirError(404, 'not-found', `No FHIR interaction for ${req.method} ${req.path.slice(0, 200)}`));
  });
  router.use(fhirErrorHandler());
  return router;
}

function numberParam(v: unknown, def: number, max: number): number {
  if (typeof v !== 'string') return def;
  if (!/^\d+$/.test(v)) throw new FhirError(400, 'invalid', `Expected a non-negative integer, got "${v.slice(0, 20)}"`);
  return Math.min(Number(v), max);
}

function searchBundle(base: string, ps: ParsedSearch, page: SearchPage): Bundle {
  const self = `${base}/${ps.type}`;
  const q = (extra: [string, string][]) => {
    const s = encodeQuery([...ps.canonical, ...extra]);
    return s ? `${self}?${s}` : self;
  };
  const count: [string, string] = ['_count', String(ps.count)];
  if (ps.summaryCount) {
    return { resourceType: 'Bundle', type: 'searchset', total: page.total ?? 0, link: [{ relation: 'self', url: q([['_summary', 'count']]) }] };
  }
  const current: [string, string][] = ps.cursor ? [['_cursor', ps.cursor]] : page.offset > 0 ? [['_offset', String(page.offset)]] : [];
  const links: BundleLink[] = [{ relation: 'self', url: q([count, ...current]) }];
  if (page.next) links.push({ relation: 'next', url: q([count, ['_cursor', page.next]]) });
  if (page.offset > 0) {
    const prev = Math.max(0, page.offset - ps.count);
    links.push({ relation: 'previous', url: q(prev > 0 ? [count, ['_offset', String(prev)]] : [count]) });
  }
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    link: links,
    entry: [
      ...page.matches.map((r): BundleEntry => ({ fullUrl: `${base}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'match' } })),
      ...page.included.map((r): BundleEntry => ({ fullUrl: `${base}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'include' } })),
    ],
  };
  if (page.total !== undefined) bundle.total = page.total;
  return bundle;
}
