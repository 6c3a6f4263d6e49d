/**
 * FHIR systems and URLs used by referral ingestion (henvisning and Pridok). Other parts (consultations, reports) find
 * referrals by these; they are listed in docs/ingestion.md.
 *
 * National identifier systems follow HL7 Norway no-basis (its NamingSystems and identifier slices). Product-specific systems are URNs under
 * `urn:hl7-engine:` like the rest of the product (e.g. the consultations' `urn:hl7-engine:consultation`). Extensions have
 * canonical URLs with StructureDefinitions (src/lib/fhir-extensions.ts).
 */
import { extensionUrl } from './fhir-extensions.js';

export const SYSTEMS = {
  fnr: 'urn:oid:2.16.578.1.12.4.1.4.1',
  dnr: 'urn:oid:2.16.578.1.12.4.1.4.2',
  fhn: 'urn:oid:2.16.578.1.12.4.1.4.3',
  hpr: 'urn:oid:2.16.578.1.12.4.1.4.4',
  duf: 'urn:oid:2.16.578.1.12.4.1.4.5',
  enh: 'urn:oid:2.16.578.1.12.4.1.4.101',
  resh: 'urn:oid:2.16.578.1.12.4.1.4.102',
  her: 'urn:oid:2.16.578.1.12.4.1.2',
  /** Henvisning DocumentId (kept across change and cancel): ServiceRequest.identifier. */
  henvisningDocumentId: 'urn:hl7-engine:henvisning-document-id',
  /** Pridok JournalGuid: ServiceRequest.identifier of Pridok referrals. */
  pridokJournalGuid: 'urn:hl7-engine:pridok-journal-guid',
  /** meta.tag system: where a patient came from (insurer-referred). */
  patientOrigin: 'urn:hl7-engine:patient-origin',
  /** meta.tag system shared with consultations (src/consultations/patient-tags.ts): no-marketing. */
  communicationPreference: 'urn:hl7-engine:communication-preference',
} as const;

export const EXTENSIONS = {
  /** Which inbound message wrote this version: sub-extensions messageId, sent, received, storeId. */
  sourceMessage: extensionUrl('source-message'),
  /** The original Hastegrad (Volven 8306) of a henvisning, next to ServiceRequest.priority. */
  henvisningPriority: extensionUrl('henvisning-priority'),
  /** VurderingAvHenvisning/DatoMottakOgVurdering: sub-extensions type (Coding, 9147) and date. */
  henvisningAssessmentDate: extensionUrl('henvisning-assessment-date'),
  /** Pakkeforløp code (8480/9321). */
  henvisningPakkeforlop: extensionUrl('henvisning-pakkeforlop'),
  /** Pridok FormatId of the referral. */
  pridokFormatId: extensionUrl('pridok-format-id'),
} as const;

/**
 * The extensions' URLs before they had StructureDefinitions (`<prefix><id>`): versions written then still carry them.
 * The source-message one is read like the current one; the applier rewrites old ones into the current form whenever
 * a message touches the resource (a replay of the stored messages, docs/conformance.md).
 */
export const LEGACY_EXTENSION_PREFIX = 'urn:hl7-engine:fhir:extension:';
export const LEGACY_SOURCE_MESSAGE_URL = `${LEGACY_EXTENSION_PREFIX}source-message`;

export function isSourceMessageUrl(url: string | undefined): boolean {
  return url === EXTENSIONS.sourceMessage || url === LEGACY_SOURCE_MESSAGE_URL;
}

export const PATIENT_TAGS = {
  insurerReferred: { system: SYSTEMS.patientOrigin, code: 'insurer-referred', display: 'Referred by an insurer (Pridok)' },
  /** Same system, code and display as NO_MARKETING_TAG in src/consultations/patient-tags.ts. */
  noMarketing: { system: SYSTEMS.communicationPreference, code: 'no-marketing', display: 'No marketing communication (referred by an insurer)' },
} as const;

/** Whether a resource (a Patient) carries the no-marketing tag: only transactional messages may reach it. */
export function hasNoMarketingTag(resource: { meta?: { tag?: { system?: string; code?: string }[] } } | undefined): boolean {
  const tag = PATIENT_TAGS.noMarketing;
  return !!resource?.meta?.tag?.some((t) => t.system === tag.system && t.code === tag.code);
}
