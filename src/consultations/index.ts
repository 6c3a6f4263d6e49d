/**
 * Wiring of the consultations concern: the field cipher, the service (ctx.consultations), start-up work (Encounter
 * repair, the daily insurer report schedule) and what other modules register (collections, job, routes, OpenAPI).
 */
import { FieldCipher } from '../crypto/field-cipher.js';
import { loadKeyring } from '../crypto/keyring.js';
import type { CollectionSpec } from '../db/mongo.js';
import type { AppContext } from '../http/context.js';
import { rootLogger } from '../logging/logger.js';
import type { FhirStore } from './fhir-ports.js';
import { eventsCollectionSpec } from './events.js';
import { DELIVER_NOTIFICATION_JOB, Outbox, outboxCollectionSpec } from '../notifications/outbox.js';
import { changesCollectionSpec } from './revision-store.js';
import { INSURER_REPORT_JOB, reportsCollectionSpec } from './report.js';
import { ConsultationService, consultationsCollectionSpec } from './service.js';

export const consultationCollectionSpecs: CollectionSpec[] = [consultationsCollectionSpec, changesCollectionSpec, reportsCollectionSpec, outboxCollectionSpec, eventsCollectionSpec];

/** The field cipher of the engine (keys from ENCRYPTION_KEYS, else the generated local key file). */
export function createFieldCipher(config: AppContext['config']): FieldCipher {
  const keyring = loadKeyring(config);
  if (keyring.mode === 'local') {
    rootLogger().warn(
      'field encryption uses a generated local key (<DATA_DIR>/encryption/local-keys.json): set ENCRYPTION_KEYS and ENCRYPTION_ACTIVE_KEY_ID in production',
    );
  }
  return new FieldCipher(keyring);
}

/** The FHIR repository of a tenant (ctx.fhir), resolved at call time: start-up order of the services does not matter. */
function lazyFhir(ctx: AppContext): { forTenant(tenant: string): FhirStore } {
  return { forTenant: (tenant) => ctx.fhir.forTenant(tenant) };
}

/** The outbox of patient notices; each message is delivered by its own job, visible to the patient's legal entity. */
export function createOutbox(ctx: AppContext): Outbox {
  return new Outbox(ctx.database.db, async (message) => {
    const { id } = await ctx.jobs.enqueue(DELIVER_NOTIFICATION_JOB, { outbox_id: message._id }, { hash: message._id, owner: { clientId: message.tenant } });
    return id;
  });
}

export function createConsultationService(ctx: AppContext, outbox: Outbox): ConsultationService {
  return new ConsultationService({
    db: ctx.database.db,
    fhir: lazyFhir(ctx),
    dictionaries: ctx.dictionaries,
    cipher: ctx.fieldCipher,
    outbox,
    // Read at each start: without PUBLIC_URL the public URL names the port the engine listens on, known once listening.
    sessionBaseUrl: () => ctx.config.consultations.sessionBaseUrl ?? `${ctx.publicUrl}/sessions`,
    billing: {
      consultationCreated: (doc) => ctx.billing.consultationCreated(doc),
      consultationCancelled: (doc) => ctx.billing.consultationCancelled(doc),
    },
  });
}

/**
 * After the job runner started: completes half-done changes and schedules pending notices (in the background), and
 * schedules the daily report.
 * Resolves with the repair still running; shutdown awaits it.
 */
export async function startConsultations(ctx: AppContext, outbox: Outbox): Promise<{ repair: Promise<void> }> {
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
