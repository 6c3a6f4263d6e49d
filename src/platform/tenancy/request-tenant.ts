/**
 * The tenant a request acts in.
 *
 *   ownTenant(req)        the token's client_id; a token without a (well-formed) client_id may not touch tenant data:
 *                         TenantAccessError (403).
 *   targetTenant(req)     for the routes that support staff use across tenants (inbound messages and their replay,
 *                         jobs): the `X-Target-Tenant` header names another tenant, allowed only with the scope
 *                         `support:cross_tenant`; every such access is written to the operator access log with the
 *                         acting and the target tenant. Without the header: ownTenant.
 */
import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import type { Collection, Db } from 'mongodb';
import type { CollectionSpec } from '../db/mongo.js';
import { log } from '../logging/logger.js';
import { isTenantId } from './tenant.js';

export const CROSS_TENANT_SCOPE = 'support:cross_tenant';
export const TARGET_TENANT_HEADER = 'x-target-tenant';

/** A request that may not act in the tenant it asked for (rendered as 403 by every route family). */
export class TenantAccessError extends Error {
  readonly status = 403;
  readonly type = 'forbidden';
  constructor(message: string) {
    super(message);
    this.name = 'TenantAccessError';
  }
}

export function ownTenant(req: Request): string {
  const clientId = req.auth?.clientId;
  if (!isTenantId(clientId)) throw new TenantAccessError('The token names no legal entity (client_id): it cannot read or change data of a legal entity');
  return clientId;
}

export const operatorAccessCollection: CollectionSpec = {
  name: 'operator_access',
  indexes: [
    { key: { target_tenant: 1, at: -1 }, name: 'target_at' },
    { key: { acting_tenant: 1, at: -1 }, name: 'acting_at' },
  ],
};

interface OperatorAccess {
  _id: string;
  at: Date;
  user_id: string;
  acting_tenant: string | null;
  target_tenant: string;
  method: string;
  /** The route pattern (never the raw path). */
  route: string;
  request_id?: string;
}

export const BASIC_AUTH_OPERATOR = 'operator (basic auth)';

/** The audit trail of cross-tenant access by support staff. */
export class OperatorAccessLog {
  readonly collection: Collection<OperatorAccess>;
  constructor(db: Db) {
    this.collection = db.collection<OperatorAccess>(operatorAccessCollection.name);
  }

  async record(req: Request, target: string): Promise<void> {
    const entry: OperatorAccess = {
      _id: randomUUID(),
      at: new Date(),
      // Without a token: the installation's basic-auth operator account (operators' pages).
      user_id: req.auth?.userId ?? BASIC_AUTH_OPERATOR,
      acting_tenant: isTenantId(req.auth?.clientId) ? req.auth!.clientId! : null,
      target_tenant: target,
      method: req.method,
      route: `${req.baseUrl}${(req.route as { path?: string } | undefined)?.path ?? ''}`,
      ...(typeof req.id === 'string' ? { request_id: req.id } : {}),
    };
    await this.collection.insertOne(entry);
    log().info({ actingTenant: entry.acting_tenant, targetTenant: target, route: entry.route, method: entry.method }, 'cross-tenant access');
  }
}

/** The tenant named by X-Target-Tenant (operators, audited) or the token's own. */
export async function targetTenant(req: Request, audit: OperatorAccessLog): Promise<string> {
  const header = req.headers[TARGET_TENANT_HEADER];
  if (header === undefined) return ownTenant(req);
  const target = Array.isArray(header) ? header[0] : header;
  if (!req.auth?.scopes.has(CROSS_TENANT_SCOPE)) {
    throw new TenantAccessError(`${TARGET_TENANT_HEADER} needs the scope ${CROSS_TENANT_SCOPE}`);
  }
  if (!isTenantId(target)) throw new TenantAccessError(`${TARGET_TENANT_HEADER} is not a tenant id`);
  if (target === req.auth.clientId) return target;
  await audit.record(req, target);
  return target;
}
