/**
 * The FHIR Encounter of a consultation: `basedOn` the referral ServiceRequest, `subject` the Patient, `participant`
 * the practitioner (primary performer), `status` mapped from the consultation state, `statusHistory` from the state
 * history, `period` from starts_at/ends_at, `length` = TREATMENT_DURATION in seconds, `partOf` (a follow-up) the Encounter of the
 * consultation it follows. The consultation document is the source of truth; the Encounter is written from it inside
 * each change (revision-store.ts), so writes are ordered per consultation. Whatever else an existing Encounter holds
 * (e.g. the one referral ingestion planned: class, serviceProvider, other participants) is kept.
 *
 * Result fields are never copied to the Encounter (they exist only encrypted, in the consultation document).
 */
import type { Encounter, EncounterParticipant, EncounterStatusHistory } from '@medplum/fhirtypes';
import { canonicalJson } from '../fhir-store/canonical-json.js';
import { fhirStatus, readOrUndefined, type FhirStore } from '../fhir-store/ports.js';
import { wholeSeconds } from './metrics.js';
import { ENCOUNTER_STATUS } from './states.js';
import type { ConsultationDoc } from './types.js';

const CONSULTATION_IDENTIFIER_SYSTEM = 'urn:hl7-engine:consultation';

const VIRTUAL_CLASS = { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' };
const PRIMARY_PERFORMER = {
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }],
};

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

/** The Encounter for `doc`, keeping whatever else an existing Encounter holds. */
function buildEncounter(doc: ConsultationDoc, existing?: Encounter): Encounter {
  const history = doc.status_history;
  const statusHistory: EncounterStatusHistory[] = [];
  for (let i = 0; i < history.length - 1; i++) {
    const status = ENCOUNTER_STATUS[history[i].state];
    const end = iso(history[i + 1].at);
    const last = statusHistory[statusHistory.length - 1];
    if (last && last.status === status) {
      last.period = { ...last.period, end }; // a re-assignment keeps the status: one period
      continue;
    }
    statusHistory.push({ status, period: { start: iso(history[i].at), end } });
  }
  // the current status is Encounter.status, not history
  while (statusHistory.length > 0 && statusHistory[statusHistory.length - 1].status === ENCOUNTER_STATUS[doc.state]) statusHistory.pop();
  const identifier = [...(existing?.identifier ?? []).filter((i) => i.system !== CONSULTATION_IDENTIFIER_SYSTEM)];
  identifier.push({ system: CONSULTATION_IDENTIFIER_SYSTEM, value: doc._id });
  const period = doc.starts_at ? { start: iso(doc.starts_at), ...(doc.ends_at ? { end: iso(doc.ends_at) } : {}) } : existing?.period;
  const enc: Encounter = {
    ...(existing ?? {}),
    resourceType: 'Encounter',
    id: doc.encounter_id,
    identifier,
    status: ENCOUNTER_STATUS[doc.state],
    statusHistory: statusHistory.length > 0 ? statusHistory : undefined,
    class: existing?.class ?? VIRTUAL_CLASS,
    subject: { reference: `Patient/${doc.patient_id}` },
    basedOn: [{ reference: `ServiceRequest/${doc.service_request_id}` }],
    partOf: doc.part_of_encounter_id ? { reference: `Encounter/${doc.part_of_encounter_id}` } : existing?.partOf,
    participant: participants(doc, existing),
    period,
    length:
      doc.treatment_duration_seconds !== null
        ? { value: wholeSeconds(doc.treatment_duration_seconds), unit: 's', system: 'http://unitsofmeasure.org', code: 's' }
        : undefined,
  };
  delete (enc as { meta?: unknown }).meta;
  for (const k of ['statusHistory', 'participant', 'period', 'length', 'partOf'] as const) if (enc[k] === undefined) delete enc[k];
  return enc;
}

/** Key-order independent JSON, for "did anything change". */
/**
 * Writes the Encounter of `doc` (nothing when the stored one already says the same). If-Match on the version read:
 * when someone else (e.g. ingestion of a cancel message) wrote in between, re-read and merge again.
 */
export async function writeEncounter(fhir: FhirStore, doc: ConsultationDoc): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const existing = await readOrUndefined<Encounter>(fhir, 'Encounter', doc.encounter_id);
    const next = buildEncounter(doc, existing);
    if (existing) {
      const { meta: _meta, ...stored } = existing;
      if (canonicalJson(stored) === canonicalJson(next)) return;
    }
    try {
      if (existing) await fhir.update(next, { ifMatchVersion: existing.meta?.versionId });
      else await fhir.create(next, { id: doc.encounter_id });
      return;
    } catch (err) {
      const status = fhirStatus(err);
      if ((status === 412 || status === 409) && attempt < 5) continue;
      throw err;
    }
  }
}
