/**
 * The FHIR Encounter of a consultation: `basedOn` the referral ServiceRequest, `subject` the Patient, `participant`
 * the practitioner, `status` mapped from the consultation state, `statusHistory` from the state history, `period`
 * from starts_at/ends_at. The consultation document is the source of truth; the Encounter is rewritten from it after
 * every change (idempotent, so a failed write is simply repeated by the next sync).
 *
 * Ordering: each Encounter carries the consultation revision it was built from (extension below) and is written
 * with If-Match on the version read, so a slow writer can never replace a newer Encounter with an older state.
 *
 * Result fields are never copied to the Encounter (they exist only encrypted, in the consultation document).
 */
import type { Encounter, EncounterParticipant, EncounterStatusHistory, Extension } from '@medplum/fhirtypes';
import { fhirStatus, readOrUndefined, type FhirStore } from './fhir-ports.js';
import { ENCOUNTER_STATUS } from './states.js';
import type { ConsultationDoc } from './types.js';

export const CONSULTATION_IDENTIFIER_SYSTEM = 'urn:hl7-engine:consultation';
export const REVISION_EXTENSION_URL = 'urn:hl7-engine:fhir:extension:consultation-revision';

const VIRTUAL_CLASS = { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' };
const PRIMARY_PERFORMER = {
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }],
};

export function encounterRevision(enc: Encounter | undefined): number {
  const ext = enc?.extension?.find((e) => e.url === REVISION_EXTENSION_URL);
  return typeof ext?.valueInteger === 'number' ? ext.valueInteger : -1;
}

function iso(d: Date | null | undefined): string | undefined {
  return d ? new Date(d).toISOString() : undefined;
}

function isPrimaryPerformer(p: EncounterParticipant): boolean {
  return !!p.type?.some((t) => t.coding?.some((c) => c.code === 'PPRF'));
}

/** Other participants (e.g. a referrer ingestion recorded) are kept; the primary performer is the practitioner. */
function participants(doc: ConsultationDoc, existing?: Encounter): EncounterParticipant[] | undefined {
  const others = (existing?.participant ?? []).filter((p) => !isPrimaryPerformer(p));
  if (doc.practitioner_id) {
    others.push({
      type: [PRIMARY_PERFORMER],
      individual: { reference: `Practitioner/${doc.practitioner_id}` },
      ...(doc.assigned_at ? { period: { start: iso(doc.assigned_at) } } : {}),
    });
  }
  return others.length > 0 ? others : undefined;
}

/** The Encounter for `doc`, keeping whatever else an existing Encounter (e.g. the one ingestion planned) holds. */
export function buildEncounter(doc: ConsultationDoc, existing?: Encounter): Encounter {
  const history = doc.status_history;
  const statusHistory: EncounterStatusHistory[] = [];
  for (let i = 0; i < history.length - 1; i++) {
    const status = ENCOUNTER_STATUS[history[i].state];
    const next = history[i + 1];
    if (ENCOUNTER_STATUS[next.state] === status && statusHistory.length > 0) continue; // re-assignment: same status
    statusHistory.push({ status, period: { start: iso(history[i].at), end: iso(next.at) } });
  }
  const extension: Extension[] = [
    ...(existing?.extension ?? []).filter((e) => e.url !== REVISION_EXTENSION_URL),
    { url: REVISION_EXTENSION_URL, valueInteger: doc.rev },
  ];
  const identifier = [...(existing?.identifier ?? []).filter((i) => i.system !== CONSULTATION_IDENTIFIER_SYSTEM)];
  identifier.push({ system: CONSULTATION_IDENTIFIER_SYSTEM, value: doc._id });
  const period = doc.starts_at ? { start: iso(doc.starts_at), ...(doc.ends_at ? { end: iso(doc.ends_at) } : {}) } : existing?.period;
  const enc: Encounter = {
    ...(existing ?? {}),
    resourceType: 'Encounter',
    id: doc.encounter_id,
    extension,
    identifier,
    status: ENCOUNTER_STATUS[doc.state],
    statusHistory: statusHistory.length > 0 ? statusHistory : undefined,
    class: existing?.class ?? VIRTUAL_CLASS,
    subject: { reference: `Patient/${doc.patient_id}` },
    basedOn: [{ reference: `ServiceRequest/${doc.service_request_id}` }],
    participant: participants(doc, existing),
    period,
    length:
      doc.treatment_duration_seconds !== null
        ? { value: Math.round(doc.treatment_duration_seconds / 60), unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' }
        : undefined,
  };
  delete (enc as { meta?: unknown }).meta;
  if (!enc.statusHistory) delete enc.statusHistory;
  if (!enc.participant) delete enc.participant;
  if (!enc.period) delete enc.period;
  if (!enc.length) delete enc.length;
  return enc;
}

/**
 * Writes the Encounter of `doc` unless the stored one already reflects this revision or a newer one.
 * Returns true when the stored Encounter reflects at least `doc.rev` afterwards.
 */
export async function writeEncounter(fhir: FhirStore, doc: ConsultationDoc): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const existing = await readOrUndefined<Encounter>(fhir, 'Encounter', doc.encounter_id);
    if (encounterRevision(existing) >= doc.rev) return true;
    const next = buildEncounter(doc, existing);
    try {
      if (existing) await fhir.update(next, { ifMatchVersion: existing.meta?.versionId });
      else await fhir.create(next, { id: doc.encounter_id });
      return true;
    } catch (err) {
      const status = fhirStatus(err);
      if (status === 412 || status === 409) continue; // someone wrote in between: re-read and decide again
      throw err;
    }
  }
  return false;
}
