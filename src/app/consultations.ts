/**
 * Wiring of the consultations concern: the field cipher, the outbox of notices, the service, start-up work (Encounter
 * repair, the daily insurer report schedule) and its collections.
 */
import { FieldCipher } from '../lib/crypto/field-cipher.js';
import { loadKeyring } from '../lib/crypto/keyring.js';
import type { CollectionSpec } from '../platform/db/mongo.js';
import type { Config } from '../platform/config/config.js';
import type { Database } from '../platform/db/mongo.js';
import type { FhirStorage } from '../fhir-store/repository.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { DictionaryService } from '../dictionaries/service.js';
import type { BillingService } from '../billing/service.js';
import { rootLogger } from '../platform/logging/logger.js';
import { eventsCollectionSpec } from '../consultations/events.js';
import { DELIVER_NOTIFICATION_JOB, Outbox, outboxCollectionSpec } from '../notifications/outbox.js';
import { changesCollectionSpec } from '../consultations/revision-store.js';
import { INSURER_REPORT_JOB, reportsCollectionSpec } from '../consultations/report.js';
import { ConsultationService, consultationsCollectionSpec } from '../consultations/service.js';

export const consultationCollectionSpecs: CollectionSpec[] = [consultationsCollectionSpec, changesCollectionSpec, reportsCollectionSpec, outboxCollectionSpec, eventsCollectionSpec];

/** The field cipher of the engine (keys from ENCRYPTION_KEYS, else the generated local key file). */
export function createFieldCipher(config: Config): FieldCipher {
  const keyring = loadKeyring(config);
  if (keyring.mode === 'local') {
    rootLogger().warn(
      'field encryption uses a generated local key (<DATA_DIR>/encryption/local-keys.json): set ENCRYPTION_KEYS and ENCRYPTION_ACTIVE_KEY_ID in production',
    );
  }
  return new FieldCipher(keyring);
}

/** The outbox of patient notices; each message is delivered by its own job, visible to the patient's legal entity. */
export function createOutbox(deps: { database: Database; jobs: JobRunner }): Outbox {
  return new Outbox(deps.database.db, async (message) => {
    const { id } = await deps.jobs.enqueue(DELIVER_NOTIFICATION_JOB, { outbox_id: message._id }, { hash: message._id, owner: { clientId: message.tenant } });
    return id;
  });
}

export interface ConsultationWiring {
  config: Config;
  database: Database;
  fhir: FhirStorage;
  dictionaries: DictionaryService;
  fieldCipher: FieldCipher;
  billing: BillingService;
  /** The engine's public base URL, read when a session link is made. */
  publicUrl: () => string;
}

export function createConsultationService(deps: ConsultationWiring, outbox: Outbox): ConsultationService {
  return new ConsultationService({
    db: deps.database.db,
    fhir: { forTenant: (tenant) => deps.fhir.forTenant(tenant) },
    dictionaries: deps.dictionaries,
    cipher: deps.fieldCipher,
    outbox,
    sessionBaseUrl: () => deps.config.consultations.sessionBaseUrl ?? `${deps.publicUrl()}/sessions`,
    billing: deps.billing,
  });
}

/**
 * After the job runner started: completes half-done changes and schedules pending notices (in the background), and
 * schedules the daily report.
 * Resolves with the repair still running; shutdown awaits it.
 */
export async function startConsultations(ctx: { config: Config; consultations: ConsultationService; jobs: JobRunner }, outbox: Outbox): Promise<{ repair: Promise<void> }> {
  const repair = ctx.consultations
    .repair()
    // After the repair (which writes the notices of completed changes): notices never handed to their job go now.
    .then(() => outbox.schedulePending())
    .then(() => undefined)
    .catch((err: Error) => rootLogger().error({ err: { message: err.message } }, 'consultation repair failed'));
  if (ctx.config.consultations.reportSchedule) {
    await ctx.jobs.every(ctx.config.consultations.reportSchedule, INSURER_REPORT_JOB, { daily: true });
  }
  return { repair };
}
