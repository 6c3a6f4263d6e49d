/**
 * Wiring of billing: the service (ctx.billing) built from the deals registry and the tenant FHIR repositories.
 */
import type { AppContext } from '../http/context.js';
import type { Deal } from '../registries/types.js';
import type { DealSource } from './pricing.js';
import { BillingService } from './service.js';

/** The deals registry as billing reads it (a tenant's deals of one insurer; one deal by id). */
function dealSource(ctx: AppContext): DealSource {
  return {
    dealsOf: (tenant, insurer) => ctx.registries.find('deals', { tenant, insurer_organization_id: insurer }) as Promise<Deal[]>,
    deal: (id) => ctx.registries.get('deals', id) as Promise<Deal | undefined>,
  };
}

export function createBillingService(ctx: AppContext): BillingService {
  return new BillingService({ db: ctx.database.db, deals: dealSource(ctx), fhir: { forTenant: (tenant) => ctx.fhir.forTenant(tenant) } });
}
