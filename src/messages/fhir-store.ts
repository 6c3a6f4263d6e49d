/**
 * The FHIR repository for code running outside the engine (CLI `ingest` / `replay`): the same repository class the
 * engine uses (ctx.fhir), on the CLI's database connection.
 */
import type { Config } from '../config/config.js';
import type { Database } from '../db/mongo.js';
import { FhirStorage } from '../fhir/repository.js';

export function fhirStoreFor(database: Database, config: Config): FhirStorage {
  return new FhirStorage(database.db, { baseUrl: config.fhir.baseUrl });
}
