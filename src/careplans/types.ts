/** Care plans and care plan activities as stored (eHealth's care plan data model) and as exchanged. */
import type { CodeableConcept } from '../registries/types.js';

export type { CodeableConcept };

export interface Reference {
  identifier: { type: CodeableConcept; value: string };
  display_value?: string | null;
}

export interface Period {
  start: string;
  end?: string;
}

export const CARE_PLAN_STATUSES = ['new', 'active', 'completed', 'cancelled', 'terminated'] as const;
export type CarePlanStatus = (typeof CARE_PLAN_STATUSES)[number];
export const FINAL_CARE_PLAN_STATUSES: CarePlanStatus[] = ['completed', 'cancelled', 'terminated'];

export const ACTIVITY_STATUSES = ['scheduled', 'in_progress', 'completed', 'cancelled'] as const;
export type ActivityStatus = (typeof ACTIVITY_STATUSES)[number];

export interface StatusHistoryEntry {
  status: string;
  status_reason?: CodeableConcept;
  inserted_at: Date;
  inserted_by: string;
}

export interface CarePlanDoc {
  _id: string;
  /** MPI id of the patient (the URL's patient_id). */
  patient_id: string;
  status: CarePlanStatus;
  status_reason?: CodeableConcept;
  status_history: StatusHistoryEntry[];
  category: CodeableConcept;
  title: string;
  description?: string;
  note?: string;
  period: Period;
  intent: 'order';
  encounter?: Reference;
  based_on?: Reference;
  part_of?: Reference;
  supporting_info?: Reference[];
  contributor?: Reference[];
  addresses: CodeableConcept[];
  author: Reference;
  managing_organization: Reference;
  terms_of_service: CodeableConcept;
  requisition: string;
  /** Set when an activity moved the plan from new to active (idempotent activation). */
  activated_by_activity?: string;
  activated_at?: Date;
  /** The status change documents the status fields were derived from (see materialiseStatus). */
  status_changes_key?: string;
  /** Set when a newer plan superseded this one. */
  superseded_by?: string;
  inserted_at: Date;
  inserted_by: string;
  updated_at: Date;
  updated_by: string;
}

export interface QuantityValue {
  value: number;
  system?: string;
  code?: string;
  unit?: string;
  comparator?: string;
}

export interface ActivityDetail {
  kind: 'service_request' | 'medication_request' | 'device_request';
  product_reference?: Reference;
  product_codeable_concept?: CodeableConcept;
  reason_code?: CodeableConcept[];
  reason_reference?: Reference[];
  goal?: CodeableConcept[];
  quantity?: QuantityValue;
  scheduled_timing?: unknown;
  scheduled_period?: Period;
  scheduled_string?: string;
  location?: Reference;
  performer?: Reference;
  daily_amount?: QuantityValue;
  description?: string;
  do_not_perform: boolean;
  program?: Reference;
  status: ActivityStatus;
  status_reason?: CodeableConcept;
  remaining_quantity?: QuantityValue;
  remaining_quantity_type?: string;
}

/** The signed content of a create request (Care_Plan_activity_base). */
export interface SignedActivity {
  id: string;
  author: Reference;
  care_plan: Reference;
  detail: Omit<ActivityDetail, 'status' | 'remaining_quantity' | 'remaining_quantity_type' | 'status_reason'> & { status?: 'scheduled' };
}

export interface ActivityDoc {
  _id: string;
  patient_id: string;
  care_plan_id: string;
  author: Reference;
  care_plan: Reference;
  detail: ActivityDetail;
  outcome_reference?: Reference[];
  outcome_codeable_concept?: CodeableConcept[];
  status_history: StatusHistoryEntry[];
  /** Media storage keys of the signed originals, e.g. ["<id>/create"]. */
  signed_content_links: string[];
  /** SHA-256 (hex) of the signed original under signed_content_links[0]. */
  signed_content_sha256: string;
  /** The job that created the activity (idempotent retries recognise their own insert). */
  job_id: string;
  /** Legal entity (token client_id) the activity was created in. */
  legal_entity_id: string;
  inserted_at: Date;
  inserted_by: string;
  updated_at: Date;
  updated_by: string;
}

/** What the create job receives. */
export interface CreateActivityJobData {
  patient_id: string;
  care_plan_id: string;
  user_id: string;
  client_id: string;
  signed_data: string;
}

export const RESOURCE_SYSTEM = 'eHealth/resources';

export function ref(code: string, value: string, displayValue?: string): Reference {
  const r: Reference = { identifier: { type: { coding: [{ system: RESOURCE_SYSTEM, code }] }, value } };
  if (displayValue !== undefined) r.display_value = displayValue;
  return r;
}

/** The eHealth/resources code of a reference ("employee", "medication", ...). */
export function refType(r: Reference | undefined): string | undefined {
  return r?.identifier?.type?.coding?.[0]?.code;
}
