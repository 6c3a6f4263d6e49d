/**
 * Wiring of billing: the service built from the deals registry and the tenant FHIR repositories.
 */
import type { Database } from '../platform/db/mongo.js';
import type { FhirStorage } from '../fhir-store/repository.js';
import type { RegistryStore } from '../registries/store.js';
import type { Deal } from '../registries/types.js';
import type { DealSource } from '../billing/pricing.js';
import { BillingService } from '../billing/service.js';

/** The deals registry as billing reads it (a tenant's deals of one insurer; one deal by id). */
function dealSource(registries: RegistryStore): DealSource {
  return {
    dealsOf: (tenant, insurer) => registries.find('deals', { tenant, insurer_organization_id: insurer }) as Promise<Deal[]>,
    deal: (id) => registries.get('deals', id) as Promise<Deal | undefined>,
  };
}

export function createBillingService(deps: { database: Database; registries: RegistryStore; fhir: FhirStorage }): BillingService {
  return new BillingService({ db: deps.database.db, deals: dealSource(deps.registries), fhir: { forTenant: (tenant) => deps.fhir.forTenant(tenant) } });
}
