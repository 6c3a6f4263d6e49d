import type { DictionaryService } from '../dictionaries/service.js';
import type { FhirStorage } from '../fhir-store/repository.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { TrustStore } from '../lib/signature/trust-store.js';
import type { Authenticator } from '../platform/auth/middleware.js';
import type { Config } from '../platform/config/config.js';
import type { Database } from '../platform/db/mongo.js';
import type { MediaStorage } from '../platform/storage/media-storage.js';
import type { RegistryStore } from '../registries/store.js';

/** What the care plan activities use of the engine: stores, registries, code lists, signature trust and jobs. */
export interface CarePlanDeps {
  /** Verifies bearer tokens. */
  readonly auth: Authenticator;
  /** The engine configuration. */
  readonly config: Config;
  /** The database connection. */
  readonly database: Database;
  /** Code lists. */
  readonly dictionaries: DictionaryService;
  /** FHIR storage (the repository of each tenant). */
  readonly fhir: FhirStorage;
  /** Background jobs. */
  readonly jobs: JobRunner;
  /** Signed originals and generated documents. */
  readonly media: MediaStorage;
  /** The registries care plan rules read. */
  readonly registries: RegistryStore;
  /** Trust anchors and CRLs for signed data. */
  readonly signatureTrust: TrustStore;
}
