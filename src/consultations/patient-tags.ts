/**
 * Patients referred by an insurer must never receive marketing communication. They carry this tag in
 * Patient.meta.tag; anything that sends non-transactional messages must skip tagged patients. The consultation
 * service adds it (idempotently) when a consultation is created, whether or not ingestion already did.
 */
import type { Patient } from '@medplum/fhirtypes';
import { hasNoMarketingTag, PATIENT_TAGS } from '../lib/fhir-systems.js';
import { fhirStatus, readOrUndefined, type FhirStore } from '../fhir-store/ports.js';

/** The tag referral ingestion also writes for Pridok (insurer) patients: one definition, in src/lib/fhir-systems.ts. */
export const NO_MARKETING_TAG = PATIENT_TAGS.noMarketing;

/** Adds the tag unless present (If-Match on the version read; retried when someone else wrote in between). */
export async function ensureNoMarketingTag(fhir: FhirStore, patientId: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const patient = await readOrUndefined<Patient>(fhir, 'Patient', patientId);
    if (!patient || hasNoMarketingTag(patient)) return;
    const next: Patient = { ...patient, meta: { ...patient.meta, tag: [...(patient.meta?.tag ?? []), NO_MARKETING_TAG] } };
    try {
      await fhir.update(next, { ifMatchVersion: patient.meta?.versionId });
      return;
    } catch (err) {
      if (fhirStatus(err) === 412) continue;
      throw err;
    }
  }
}
