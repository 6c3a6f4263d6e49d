/**
 * The FHIR repository for code running outside the engine (CLI `ingest` / `replay`): the same repository class the
 * engine uses (ctx.fhir), on the CLI's database connection.
 */
import type { Config } from '../config/config.js';
import type { Database } from '../db/mongo.js';
import { FhirRepository } from '../fhir/repository.js';
import type { FhirStore } from '../referrals/apply.js';

export function fhirStoreFor(database: Database, _config: Config): FhirStore {
  return new FhirRepository(database.db);
}
