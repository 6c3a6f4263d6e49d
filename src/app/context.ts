import type { Authenticator } from '../platform/auth/middleware.js';
import type { BillingService } from '../billing/service.js';
import type { ConsultationService } from '../consultations/service.js';
import type { FieldCipher } from '../lib/crypto/field-cipher.js';
import type { Config } from '../platform/config/config.js';
import type { Database } from '../platform/db/mongo.js';
import type { FhirStorage } from '../fhir-store/repository.js';
import type { AuditLog } from '../fhir-api/audit.js';
import type { TenantDirectory } from '../platform/tenancy/directory.js';
import type { OperatorAccessLog } from '../platform/tenancy/request-tenant.js';
import type { DictionaryService } from '../dictionaries/service.js';
import type { MediaStorage } from '../platform/storage/media-storage.js';
import type { RegistryStore } from '../registries/store.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { TrustStore } from '../lib/signature/trust-store.js';
import type { IngestServices } from './ingest.js';

/** What route modules are built from: configuration, the database and the token authenticator. */
export interface AppContext {
  config: Config;
  database: Database;
  auth: Authenticator;
  /** FHIR storage: every FHIR resource is stored through the repository of its tenant (`fhir.forTenant`). */
  fhir: FhirStorage;
  /** AuditEvents of reads and searches of personal data, each written into the tenant of the request it records. */
  audit: AuditLog;
  /** The tenants and which inbound messages belong to them (TENANTS / TENANTS_FILE). */
  tenants: TenantDirectory;
  /** Audit trail of support staff acting across tenants. */
  operatorAccess: OperatorAccessLog;
  /** Background jobs (one Agenda instance) and the `jobs` collection clients poll. */
  jobs: JobRunner;
  /** Signed originals and generated documents (default: local filesystem under <DATA_DIR>/media). */
  media: MediaStorage;
  /** Registries the care plan rules read (legal entities, parties, employees, programs, medications, ...). */
  registries: RegistryStore;
  /** Trust anchors and CRLs for verifySignedData (SIGNATURE_TRUST_ANCHORS, SIGNATURE_CRL_FILES, SIGNATURE_ALLOW_SHA1). */
  signatureTrust: TrustStore;
  /** Code lists (ICPC2, eHealth, Norwegian …): getCode / isValidCode through a cache kept fresh by DB version stamps. */
  dictionaries: DictionaryService;
  /** Field encryption at rest (AES-256-GCM; keys from ENCRYPTION_KEYS or the generated local key file). */
  fieldCipher: FieldCipher;
  /** Consultations: queue, lifecycle, encrypted results (src/consultations). */
  consultations: ConsultationService;
  /** Insurer deals priced into orders and lines, their FHIR form and the order views (src/billing). */
  billing: BillingService;
  /** Referral ingestion: message store, mappings, henvisning/Pridok processors, replay (src/ingest). */
  ingest: IngestServices;
  /** The engine's public base URL: PUBLIC_URL, else http://localhost:<the port it listens on> (set once listening). */
  publicUrl: string;
  /** Set when SIGTERM arrived: readiness answers 503 and connections are closed after their response. */
  shuttingDown: boolean;
}
