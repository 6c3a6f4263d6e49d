/**
 * What the consultation service tells billing (src/billing implements it). Every route that creates or cancels a
 * consultation goes through the service, so each one gets its order line and credit. Calls are idempotent: a repeat
 * (an idempotent create answered with the existing consultation) completes whatever an earlier call left undone.
 */
import type { ConsultationDoc } from './types.js';

export interface ConsultationBilling {
  /** The consultation exists: price it on the order of its insurer (when a deal covers it). */
  consultationCreated(doc: ConsultationDoc): Promise<void>;
  /** The consultation was cancelled: its line is credited when it had not started. */
  consultationCancelled(doc: ConsultationDoc): Promise<void>;
}
