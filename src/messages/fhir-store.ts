/**
 * The FHIR repository for code running outside the engine (CLI `ingest` / `replay`).
 */
import type { Config } from '../config/config.js';
import type { Database } from '../db/mongo.js';
import type { FhirStore } from '../referrals/apply.js';

export function fhirStoreFor(_database: Database, _config: Config): FhirStore {
  throw new Error('The FHIR repository is not available in this build');
}
