/**
 * The API representation of a consultation. The result is decrypted only for tokens with scope
 * `consultation_result:read`; any other reader sees `{"recorded": true, "recorded_at": …}` and nothing of its content.
 * Session links (they grant access to the patient's chat/video room) are shown only to the assigned practitioner and
 * supervisors.
 */
import { ENCOUNTER_STATUS } from './states.js';
import type { ConsultationDoc, ConsultationResult } from './types.js';

interface ViewOptions {
  /** The decrypted result, when the reader may see it. */
  result?: ConsultationResult;
  showSessions: boolean;
}

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

export function consultationView(doc: ConsultationDoc, opts: ViewOptions): Record<string, unknown> {
  return {
    id: doc._id,
    state: doc.state,
    encounter_status: ENCOUNTER_STATUS[doc.state],
    service_request_id: doc.service_request_id,
    patient_id: doc.patient_id,
    encounter_id: doc.encounter_id,
    organization_id: doc.organization_id,
    practitioner_id: doc.practitioner_id,
    assigned_by: doc.assigned_by,
    created_by: doc.created_by,
    booked_by: doc.booking?.by ?? null,
    booked_at: iso(doc.booking?.at),
    created_at: iso(doc.created_at),
    assigned_at: iso(doc.assigned_at),
    starts_at: iso(doc.starts_at),
    ends_at: iso(doc.ends_at),
    cancelled_at: iso(doc.cancelled_at),
    cancel_reason: doc.cancel_reason,
    follow_up_of: doc.follow_up_of ?? null,
    metrics: {
      waiting_time_seconds: doc.waiting_time_seconds,
      treatment_duration_seconds: doc.treatment_duration_seconds,
    },
    sessions: opts.showSessions && doc.sessions ? { chat_url: doc.sessions.chat.url, video_url: doc.sessions.video.url } : null,
    patient_notified_at: iso(doc.notification?.at),
    status_history: doc.status_history.map((h) => ({
      state: h.state,
      encounter_status: ENCOUNTER_STATUS[h.state],
      action: h.action,
      at: iso(h.at),
      by: h.by,
      ...(h.practitioner_id ? { practitioner_id: h.practitioner_id } : {}),
      ...(h.reason ? { reason: h.reason } : {}),
    })),
    result: doc.result ? { recorded: true, recorded_at: iso(doc.result.recorded_at), ...(opts.result ?? {}) } : null,
    fhir: {
      encounter: `Encounter/${doc.encounter_id}`,
      service_request: `ServiceRequest/${doc.service_request_id}`,
      patient: `Patient/${doc.patient_id}`,
      ...(doc.part_of_encounter_id ? { part_of: `Encounter/${doc.part_of_encounter_id}` } : {}),
      ...(doc.practitioner_id ? { practitioner: `Practitioner/${doc.practitioner_id}` } : {}),
    },
  };
}
