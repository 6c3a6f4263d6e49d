/**
 * Builds the engine's services, each from the lower-level ones it needs, in dependency order, into one object
 * literal. Nothing below src/app/ sees this object: each router, job and domain service declares the narrow
 * dependencies it uses, and this object satisfies them.
 */
import type { Authenticator } from '../platform/auth/middleware.js';
import type { Config } from '../platform/config/config.js';
import type { Database } from '../platform/db/mongo.js';
import { FhirStorage } from '../fhir-store/repository.js';
import { AuditLog } from '../fhir-api/audit.js';
import { TenantDirectory } from '../platform/tenancy/directory.js';
import { OperatorAccessLog } from '../platform/tenancy/request-tenant.js';
import { DictionaryService } from '../dictionaries/service.js';
import { JobRunner } from '../jobs/job-runner.js';
import type { Outbox } from '../notifications/outbox.js';
import { createMediaStorage } from '../platform/storage/index.js';
import { RegistryStore } from '../registries/store.js';
import type { TrustStore } from '../lib/signature/trust-store.js';
import { createBillingService } from './billing.js';
import { createConsultationService, createFieldCipher, createOutbox } from './consultations.js';
import type { AppContext } from './context.js';
import { createIngestServices } from './ingest.js';

export interface BuiltServices {
  services: AppContext;
  /** The outbox of patient notices (its pending messages are scheduled once the job runner runs). */
  outbox: Outbox;
}

export async function buildServices(base: { config: Config; database: Database; auth: Authenticator; signatureTrust: TrustStore }): Promise<BuiltServices> {
  const { config, database, auth, signatureTrust } = base;
  const media = createMediaStorage(config);
  const fhir = new FhirStorage(database.db, { baseUrl: config.fhir.baseUrl });
  const audit = new AuditLog((tenant) => fhir.forTenant(tenant));
  const tenants = new TenantDirectory(config.tenants);
  const registries = new RegistryStore(database.db, { cacheCheckMs: config.registries.cacheCheckMs });
  const dictionaries = new DictionaryService(database.db, config.dictionaries);
  await dictionaries.seed(config.dictionaries.dir);
  const fieldCipher = createFieldCipher(config);
  const jobs = new JobRunner(database.db, {
    processEveryMs: config.jobs.pollIntervalMs,
    lockLifetimeMs: config.jobs.lockLifetimeMs,
    etaSeconds: config.jobs.etaSeconds,
  });
  const billing = createBillingService({ database, registries, fhir });
  const outbox = createOutbox({ database, jobs });
  const consultations = createConsultationService(
    // Read at each start: without PUBLIC_URL the public URL names the port the engine listens on, known once listening.
    { config, database, fhir, dictionaries, fieldCipher, billing, publicUrl: () => services.publicUrl },
    outbox,
  );
  const ingest = await createIngestServices({ config, database, media, fhir: (tenant) => fhir.forTenant(tenant), tenants });
  const services: AppContext = {
    config,
    database,
    auth,
    media,
    fhir,
    audit,
    tenants,
    operatorAccess: new OperatorAccessLog(database.db),
    registries,
    signatureTrust,
    dictionaries,
    fieldCipher,
    jobs,
    billing,
    consultations,
    ingest,
    publicUrl: config.publicUrl ?? `http://localhost:${config.port}`,
    shuttingDown: false,
  };
  return { services, outbox };
}
