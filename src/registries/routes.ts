/**
 * Registry admin API (eHealth envelope {meta, data|error}).
 *   GET    /api/registries                      scope registries:read (or :write) — names, descriptions, counts
 *   GET    /api/registries/:name                list; ?page, ?page_size (1-500) and the registry's filters
 *   GET    /api/registries/:name/:id            one record
 *   PUT    /api/registries/:name/:id            scope registries:write — create (201) or replace (200) one record
 *   POST   /api/registries/:name                scope registries:write — bulk upsert of an array of records
 *   DELETE /api/registries/:name/:id            scope registries:write — 204
 * Bad records: 422 validation_failed with one `invalid` entry per problem (nothing is written).
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import { sendForbidden } from '../platform/auth/middleware.js';
import type { Authenticator } from '../platform/auth/middleware.js';
import type { RegistryStore } from './store.js';
import { sendData, sendEnvelopeError } from '../platform/http/envelope.js';
import { log } from '../platform/logging/logger.js';
import { validationFailed } from '../platform/http/validation-error.js';
import { registryDefinitions, type RegistryDefinition } from './definitions.js';
import { RegistryValidationError } from './store.js';

/** What the registries API uses of the engine. */
interface RegistryRoutesDeps {
  /** Verifies bearer tokens. */
  readonly auth: Authenticator;
  /** The registries care plan rules read. */
  readonly registries: RegistryStore;
}

function requireAny(ctx: RegistryRoutesDeps, scopes: string[]) {
  const authenticate = ctx.auth.inEnvelope().authenticate();
  return (req: Request, res: Response, next: NextFunction) => {
    void authenticate(req, res, () => {
      if (!scopes.some((s) => req.auth!.scopes.has(s))) return sendForbidden(req, res, [scopes[0]], 'envelope');
      next();
    });
  };
}

export function registriesRouter(ctx: RegistryRoutesDeps): Router {
  const router = Router();
  const read = requireAny(ctx, ['registries:read', 'registries:write']);
  const write = ctx.auth.inEnvelope().requireScopes('registries:write');

  const registry = (req: Request, res: Response): RegistryDefinition | undefined => {
    const d = ctx.registries.definition(String(req.params.name));
    if (!d) sendEnvelopeError(req, res, 404, { type: 'not_found', message: `Unknown registry ${String(req.params.name).slice(0, 60)}` });
    return d;
  };

  const sendValidation = (req: Request, res: Response, err: unknown): boolean => {
    if (!(err instanceof RegistryValidationError)) return false;
    log().warn({ entries: err.body.invalid.length }, 'registry records rejected');
    sendEnvelopeError(req, res, 422, err.body as unknown as Record<string, unknown>);
    return true;
  };

  router.get('/api/registries', read, async (req, res) => {
    const data = await Promise.all(
      registryDefinitions.map(async (d) => ({ name: d.name, description: d.description, count: await ctx.registries.count(d.name) })),
    );
    sendData(req, res, 200, data);
  });

  router.get('/api/registries/:name', read, async (req, res) => {
    const d = registry(req, res);
    if (!d) return;
    const q = req.query as Record<string, unknown>;
    const page = q.page === undefined ? 1 : Number(q.page);
    const pageSize = q.page_size === undefined ? 50 : Number(q.page_size);
    const invalid = [];
    if (!Number.isInteger(page) || page < 1) invalid.push(['$.page', 'expected a positive integer']);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 500) invalid.push(['$.page_size', 'expected an integer from 1 to 500']);
    const filter: Record<string, string> = {};
    for (const [param, field] of Object.entries(d.filters)) {
      const v = q[param];
      if (v === undefined) continue;
      if (typeof v !== 'string') invalid.push([`$.${param}`, 'expected a single value']);
      else filter[field] = v;
    }
    if (invalid.length) {
      return sendEnvelopeError(
        req,
        res,
        422,
        validationFailed(
          invalid.map(([entry, description]) => ({ entry_type: 'query_parameter', entry, rules: [{ rule: 'invalid', params: [], description }] })),
        ) as unknown as Record<string, unknown>,
      );
    }
    const { records, total } = await ctx.registries.list(d.name, filter, page, pageSize);
    sendData(req, res, 200, records, {
      paging: { page_number: page, page_size: pageSize, total_entries: total, total_pages: Math.ceil(total / pageSize) },
    });
  });

  router.get('/api/registries/:name/:id', read, async (req, res) => {
    const d = registry(req, res);
    if (!d) return;
    const record = await ctx.registries.get(d.name, String(req.params.id));
    if (!record) return sendEnvelopeError(req, res, 404, { type: 'not_found', message: 'Record not found' });
    sendData(req, res, 200, record);
  });

  router.put('/api/registries/:name/:id', write, async (req, res) => {
    const d = registry(req, res);
    if (!d) return;
    const body = req.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return sendEnvelopeError(req, res, 422, validationFailed([
        { entry_type: 'json_data_property', entry: '$', rules: [{ rule: 'cast', params: ['Object'], description: 'expected a JSON object' }] },
      ]) as unknown as Record<string, unknown>);
    }
    const id = String(req.params.id);
    if (body.id !== undefined && body.id !== id) {
      return sendEnvelopeError(req, res, 422, validationFailed([
        { entry_type: 'json_data_property', entry: '$.id', rules: [{ rule: 'invalid', params: [], description: 'id in the body does not match the id in the URL' }] },
      ]) as unknown as Record<string, unknown>);
    }
    try {
      const summary = await ctx.registries.upsertMany(d.name, [{ ...body, id }], req.auth!.userId, () => '$');
      const record = await ctx.registries.get(d.name, id);
      sendData(req, res, summary.inserted ? 201 : 200, record);
    } catch (err) {
      if (!sendValidation(req, res, err)) throw err;
    }
  });

  router.post('/api/registries/:name', write, async (req, res) => {
    const d = registry(req, res);
    if (!d) return;
    const body = req.body as unknown;
    const records = Array.isArray(body) ? body : Array.isArray((body as { data?: unknown })?.data) ? (body as { data: unknown[] }).data : undefined;
    if (!records) {
      return sendEnvelopeError(req, res, 422, validationFailed([
        { entry_type: 'json_data_property', entry: '$', rules: [{ rule: 'cast', params: ['List'], description: 'expected an array of records (or {"data": [...]})' }] },
      ]) as unknown as Record<string, unknown>);
    }
    try {
      const summary = await ctx.registries.upsertMany(d.name, records, req.auth!.userId);
      log().info({ registry: d.name, ...summary }, 'registry records loaded');
      sendData(req, res, 200, summary);
    } catch (err) {
      if (!sendValidation(req, res, err)) throw err;
    }
  });

  router.delete('/api/registries/:name/:id', write, async (req, res) => {
    const d = registry(req, res);
    if (!d) return;
    if (!(await ctx.registries.remove(d.name, String(req.params.id)))) {
      return sendEnvelopeError(req, res, 404, { type: 'not_found', message: 'Record not found' });
    }
    res.status(204).end();
  });

  return router;
}
