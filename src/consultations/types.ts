/**
 * The engine state of a consultation (collection `consultations`). The clinical view is the FHIR Encounter
 * `encounter_id`, kept in step with this document (see encounter.ts).
 */
import type { ConsultationAction, ConsultationState } from './states.js';

export interface StatusHistoryEntry {
  state: ConsultationState;
  action: ConsultationAction;
  at: Date;
  /** User id of whoever caused the change. */
  by: string;
  practitioner_id?: string;
  reason?: string;
}

interface SessionLink {
  id: string;
  url: string;
}

/**
 * The consultation result. EVERY field is encrypted (AES-256-GCM, see src/lib/crypto), always present (an absent value
 * is encrypted as JSON null, so not even the presence of e.g. a minor's national id is visible at rest).
 */
export interface EncryptedResult {
  /** Key id all fields were encrypted with (the rotation query uses it). */
  kid: string;
  fields: Record<ResultField, string>;
  recorded_at: Date;
}

export const RESULT_FIELDS = [
  'icpc2',
  'outcome',
  'patient_national_id',
  'patient_job_description',
  'author_practitioner_id',
  'notes',
  'policy_number',
] as const;
export type ResultField = (typeof RESULT_FIELDS)[number];

/** The decrypted result, as the API shows it to `consultation_result:read`. */
export interface ConsultationResult {
  icpc2: string;
  outcome: string;
  patient_national_id: string | null;
  patient_job_description: string | null;
  author_practitioner_id: string;
  notes: string | null;
  policy_number: string | null;
}

export interface ConsultationDoc {
  _id: string;
  /** The legal entity (token client_id) whose consultation this is. */
  tenant: string;
  state: ConsultationState;
  service_request_id: string;
  patient_id: string;
  encounter_id: string;
  organization_id: string | null;
  /** service_request_id while not cancelled: a unique index keeps one live consultation per referral. */
  active_key: string;
  practitioner_id: string | null;
  assigned_by: string | null;
  created_by: string;
  /** Set when a secretary created the consultation with the "create booking" action (scope consultations:book). */
  booking?: { by: string; at: Date } | null;
  created_at: Date;
  assigned_at: Date | null;
  starts_at: Date | null;
  ends_at: Date | null;
  cancelled_at: Date | null;
  cancel_reason: string | null;
  sessions: { chat: SessionLink; video: SessionLink } | null;
  /** Last delivery of the session links to the patient (outbox message id). */
  notification: { outbox_id: string; at: Date } | null;
  waiting_time_seconds: number | null;
  treatment_duration_seconds: number | null;
  result: EncryptedResult | null;
  status_history: StatusHistoryEntry[];
  /** A follow-up (rebooking): the consultation it follows, and that consultation's Encounter (Encounter.partOf). */
  follow_up_of?: string | null;
  part_of_encounter_id?: string | null;
  /** Incremented by every change (see revision-store.ts: one writer per revision). */
  rev: number;
  /** False only between creation and the first Encounter write (changes write the Encounter before the document). */
  encounter_synced: boolean;
  updated_at: Date;
}
