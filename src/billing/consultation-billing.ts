/**
 * What the consultation service tells billing (BillingService implements it). Every route that creates or cancels a
 * consultation goes through the service, so each one gets its order line and credit. Calls are idempotent: a repeat
 * (an idempotent create answered with the existing consultation) completes whatever an earlier call left undone.
 */

/** What billing reads of a consultation (a consultation document satisfies it). */
export interface BillableConsultation {
  _id: string;
  tenant: string;
  patient_id: string;
  encounter_id: string;
  organization_id: string | null;
  created_at: Date;
  starts_at: Date | null;
  cancel_reason: string | null;
  /** The consultation a follow-up (rebooking) follows. */
  follow_up_of?: string | null;
}

export interface ConsultationBilling {
  /** The consultation exists: price it on the order of its insurer (when a deal covers it). */
  consultationCreated(doc: BillableConsultation): Promise<void>;
  /** The consultation was cancelled: its line is credited when it had not started. */
  consultationCancelled(doc: BillableConsultation): Promise<void>;
}
