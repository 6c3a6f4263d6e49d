/**
 * Orders API (documented in openapi.ts):
 *   GET /api/billing/orders       billing:read   the caller's orders; filters insurer_organization_id, period
 *                                                (YYYY-MM), consultation_id; paging
 *   GET /api/billing/orders/:id   billing:read   one order with its lines and totals (another tenant's: 404)
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { BillingService } from './service.js';
import type { Authenticator } from '../platform/auth/middleware.js';
import { sendData, sendEnvelopeError } from '../platform/http/envelope.js';
import { HttpError } from '../platform/http/errors.js';
import { ownTenant, TenantAccessError } from '../platform/tenancy/request-tenant.js';
import { orderView } from './views.js';

/** What the orders API uses of the engine. */
interface BillingRoutesDeps {
  /** Verifies bearer tokens. */
  readonly auth: Authenticator;
  /** Insurer billing. */
  readonly billing: BillingService;
}

const BILLING_READ_SCOPE = 'billing:read';

const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

function queryError(entry: string, description: string): HttpError {
  return new HttpError(422, 'validation_failed', 'Validation failed', {
    invalid: [{ entry_type: 'query_parameter', entry, rules: [{ rule: 'invalid', params: [], description }] }],
  });
}

function single(q: Record<string, unknown>, name: string, pattern: RegExp, description: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !pattern.test(v)) throw queryError(`$.${name}`, description);
  return v;
}

export function billingRouter(ctx: BillingRoutesDeps): Router {
  const router = Router();
  const read = ctx.auth.inEnvelope().requireScopes(BILLING_READ_SCOPE);

  router.get('/api/billing/orders', read, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const insurer = single(q, 'insurer_organization_id', ID_RE, 'must be an Organization id');
    const period = single(q, 'period', /^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month (YYYY-MM)');
    const consultationId = single(q, 'consultation_id', ID_RE, 'must be a consultation id');
    const page = Number(single(q, 'page', /^[1-9][0-9]{0,5}$/, 'must be a positive integer') ?? 1);
    const pageSize = Number(single(q, 'page_size', /^[1-9][0-9]{0,2}$/, 'must be an integer from 1 to 100') ?? 20);
    if (pageSize > 100) throw queryError('$.page_size', 'must be an integer from 1 to 100');
    const { orders, total } = await ctx.billing.list({
      tenant: ownTenant(req),
      insurer,
      period,
      consultationId,
      limit: pageSize,
      offset: (page - 1) * pageSize,
    });
    sendData(req, res, 200, orders.map(orderView), {
      paging: { page_number: page, page_size: pageSize, total_entries: total, total_pages: Math.ceil(total / pageSize) },
    });
  });

  router.get('/api/billing/orders/:id', read, async (req, res) => {
    const id = String(req.params.id);
    const found = ID_RE.test(id) ? await ctx.billing.order(id, ownTenant(req)) : undefined;
    if (!found) throw new HttpError(404, 'not_found', `Order ${id.slice(0, 64)} not found`);
    sendData(req, res, 200, orderView(found));
  });

  router.use('/api/billing', (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (err instanceof TenantAccessError) return sendEnvelopeError(req, res, err.status, { type: err.type, message: err.message });
    if (err instanceof HttpError) return sendEnvelopeError(req, res, err.status, { type: err.type, message: err.message, ...err.extra });
    next(err);
  });

  return router;
}
