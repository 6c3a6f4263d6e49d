/**
 * The resource types the FHIR repository stores and the search parameters it supports for each (a subset of the R4
 * SearchParameters, named as in R4). One table drives storage (one collection of current versions per type), search
 * key extraction, the HTTP routes and the CapabilityStatement, so what is advertised is exactly what is implemented.
 *
 * `paths` are dotted element paths into the resource (arrays are flattened; polymorphic elements are listed per
 * variant). A parameter with `aliasOf` shares the index keys of another reference parameter, restricted to `targets`
 * (e.g. `patient` = `subject` pointing at a Patient).
 */
export type ParamType = 'token' | 'reference' | 'date' | 'string' | 'uri';

export interface SearchParamDef {
  name: string;
  type: ParamType;
  paths: string[];
  /** Reference parameters: the resource types the reference may point to (also used for `_include`). */
  targets?: string[];
  /** Reference parameters: reuse the index keys of this parameter, restricted to `targets`. */
  aliasOf?: string;
  description: string;
}

export interface ResourceTypeDef {
  type: string;
  /** Clients may create/update it through the HTTP API (the engine's own modules may always write). */
  writable: boolean;
  /** Reads and searches are recorded as AuditEvents. */
  personal: boolean;
  params: SearchParamDef[];
}

const id = (): SearchParamDef => ({ name: 'identifier', type: 'token', paths: ['identifier'], description: 'A business identifier (system|value)' });
const status = (p = 'status'): SearchParamDef => ({ name: 'status', type: 'token', paths: [p], description: 'Status' });
const ref = (name: string, paths: string[], targets: string[], description: string): SearchParamDef => ({
  name,
  type: 'reference',
  paths,
  targets,
  description,
});
const patientAlias = (of: string): SearchParamDef => ({
  name: 'patient',
  type: 'reference',
  paths: [],
  targets: ['Patient'],
  aliasOf: of,
  description: `The patient (${of} that is a Patient)`,
});
const token = (name: string, paths: string[], description: string): SearchParamDef => ({ name, type: 'token', paths, description });
const date = (name: string, paths: string[], description: string): SearchParamDef => ({ name, type: 'date', paths, description });
const str = (name: string, paths: string[], description: string): SearchParamDef => ({ name, type: 'string', paths, description });
const SUBJECT_TARGETS = ['Patient', 'Group', 'Device', 'Location'];
const PARTY = ['Practitioner', 'PractitionerRole', 'Organization', 'Patient', 'RelatedPerson', 'Device', 'CareTeam'];
const nameParams = (): SearchParamDef[] => [
  str('name', ['name'], 'Any part of the name (starts with, case and accent insensitive)'),
  str('family', ['name.family'], 'Family name (starts with)'),
  str('given', ['name.given'], 'Given name (starts with)'),
];

const TYPES: ResourceTypeDef[] = [
  {
    type: 'Patient',
    writable: false,
    personal: true,
    params: [
      id(),
      ...nameParams(),
      date('birthdate', ['birthDate'], 'Date of birth'),
      token('gender', ['gender'], 'Gender'),
      ref('general-practitioner', ['generalPractitioner'], ['Practitioner', 'PractitionerRole', 'Organization'], 'General practitioner'),
      ref('organization', ['managingOrganization'], ['Organization'], 'Managing organization'),
    ],
  },
  { type: 'Practitioner', writable: false, personal: true, params: [id(), ...nameParams()] },
  {
    type: 'PractitionerRole',
    writable: false,
    personal: true,
    params: [
      id(),
      ref('practitioner', ['practitioner'], ['Practitioner'], 'The practitioner'),
      ref('organization', ['organization'], ['Organization'], 'The organization'),
      token('role', ['code'], 'Role code'),
      token('specialty', ['specialty'], 'Specialty'),
    ],
  },
  {
    type: 'Organization',
    writable: false,
    personal: false,
    params: [
      id(),
      str('name', ['name', 'alias'], 'Name or alias (starts with)'),
      token('type', ['type'], 'Organization type'),
      ref('partof', ['partOf'], ['Organization'], 'Parent organization'),
    ],
  },
  {
    type: 'ServiceRequest',
    writable: false,
    personal: true,
    params: [
      id(),
      status(),
      token('intent', ['intent'], 'proposal | plan | order ...'),
      token('code', ['code'], 'What is being requested'),
      token('category', ['category'], 'Classification of the request'),
      ref('subject', ['subject'], SUBJECT_TARGETS, 'Who the request is for'),
      patientAlias('subject'),
      ref('encounter', ['encounter'], ['Encounter'], 'Encounter of the request'),
      ref('based-on', ['basedOn'], ['CarePlan', 'ServiceRequest', 'MedicationRequest'], 'What the request fulfils'),
      ref('requester', ['requester'], PARTY, 'Who asks for it'),
      ref('performer', ['performer'], PARTY, 'Requested performer'),
      date('authored', ['authoredOn'], 'When the request was signed'),
      date('occurrence', ['occurrenceDateTime', 'occurrencePeriod'], 'When the service should occur'),
    ],
  },
  {
    type: 'Encounter',
    writable: false,
    personal: true,
    params: [
      id(),
      status(),
      token('class', ['class'], 'Encounter class'),
      token('type', ['type'], 'Encounter type'),
      ref('subject', ['subject'], ['Patient', 'Group'], 'The patient or group'),
      patientAlias('subject'),
      ref('based-on', ['basedOn'], ['ServiceRequest'], 'The request this encounter fulfils'),
      ref('service-provider', ['serviceProvider'], ['Organization'], 'Responsible organization'),
      ref('participant', ['participant.individual'], ['Practitioner', 'PractitionerRole', 'RelatedPerson'], 'Participants'),
      ref('episode-of-care', ['episodeOfCare'], ['EpisodeOfCare'], 'Episode of care'),
      date('date', ['period'], 'When the encounter took place'),
    ],
  },
  {
    type: 'CarePlan',
    writable: true,
    personal: true,
    params: [
      id(),
      status(),
      token('intent', ['intent'], 'proposal | plan | order | option'),
      token('category', ['category'], 'Type of plan'),
      token('activity-code', ['activity.detail.code'], 'Detail type of activity'),
      ref('subject', ['subject'], ['Patient', 'Group'], 'Who the care plan is for'),
      patientAlias('subject'),
      ref('encounter', ['encounter'], ['Encounter'], 'Encounter of creation'),
      ref('based-on', ['basedOn'], ['CarePlan'], 'Fulfils CarePlan'),
      ref('care-team', ['careTeam'], ['CareTeam'], 'Care team'),
      ref('performer', ['activity.detail.performer'], PARTY, 'Activity performer'),
      date('date', ['period'], 'Time period the plan covers'),
    ],
  },
  {
    type: 'Task',
    writable: true,
    personal: true,
    params: [
      id(),
      status(),
      token('intent', ['intent'], 'Intent'),
      token('code', ['code'], 'Task type'),
      ref('subject', ['for'], ['Patient', 'Group'], 'Beneficiary of the task'),
      patientAlias('subject'),
      ref('focus', ['focus'], [], 'What the task is acting on'),
      ref('based-on', ['basedOn'], [], 'What the task fulfils'),
      ref('owner', ['owner'], PARTY, 'Responsible individual'),
      ref('requester', ['requester'], PARTY, 'Who asks for the task'),
      date('authored-on', ['authoredOn'], 'Creation date'),
    ],
  },
  {
    type: 'Communication',
    writable: true,
    personal: true,
    params: [
      id(),
      status(),
      token('category', ['category'], 'Message category'),
      ref('subject', ['subject'], ['Patient', 'Group'], 'Focus of the message'),
      patientAlias('subject'),
      ref('based-on', ['basedOn'], [], 'Request fulfilled by this communication'),
      ref('encounter', ['encounter'], ['Encounter'], 'Encounter'),
      date('sent', ['sent'], 'When sent'),
    ],
  },
  {
    type: 'Condition',
    writable: true,
    personal: true,
    params: [
      id(),
      token('clinical-status', ['clinicalStatus'], 'Clinical status'),
      token('code', ['code'], 'Condition code'),
      token('category', ['category'], 'Category'),
      ref('subject', ['subject'], ['Patient', 'Group'], 'Who has the condition'),
      patientAlias('subject'),
      ref('encounter', ['encounter'], ['Encounter'], 'Encounter'),
      date('recorded-date', ['recordedDate'], 'Date recorded'),
    ],
  },
  {
    type: 'Observation',
    writable: true,
    personal: true,
    params: [
      id(),
      status(),
      token('code', ['code'], 'Observation code'),
      token('category', ['category'], 'Category'),
      ref('subject', ['subject'], SUBJECT_TARGETS, 'Subject of the observation'),
      patientAlias('subject'),
      ref('encounter', ['encounter'], ['Encounter'], 'Encounter'),
      ref('based-on', ['basedOn'], ['CarePlan', 'ServiceRequest', 'MedicationRequest'], 'Fulfils plan or request'),
      date('date', ['effectiveDateTime', 'effectivePeriod', 'effectiveInstant'], 'Clinically relevant time'),
    ],
  },
  {
    type: 'MedicationRequest',
    writable: false,
    personal: true,
    params: [
      id(),
      status(),
      token('intent', ['intent'], 'Intent'),
      token('code', ['medicationCodeableConcept'], 'Medication code'),
      ref('subject', ['subject'], ['Patient', 'Group'], 'Who the prescription is for'),
      patientAlias('subject'),
      ref('encounter', ['encounter'], ['Encounter'], 'Encounter'),
      ref('requester', ['requester'], PARTY, 'Prescriber'),
      ref('based-on', ['basedOn'], ['CarePlan', 'ServiceRequest', 'MedicationRequest'], 'Fulfils plan or request'),
      date('authoredon', ['authoredOn'], 'When written'),
    ],
  },
  {
    type: 'EpisodeOfCare',
    writable: false,
    personal: true,
    params: [
      id(),
      status(),
      token('type', ['type'], 'Episode type'),
      ref('patient', ['patient'], ['Patient'], 'The patient'),
      ref('organization', ['managingOrganization'], ['Organization'], 'Managing organization'),
      date('date', ['period'], 'Period of the episode'),
    ],
  },
  {
    type: 'DocumentReference',
    writable: true,
    personal: true,
    params: [
      id(),
      status(),
      token('type', ['type'], 'Document type'),
      token('category', ['category'], 'Document category'),
      ref('subject', ['subject'], ['Patient', 'Group', 'Practitioner', 'Device'], 'Who the document is about'),
      patientAlias('subject'),
      ref('author', ['author'], PARTY, 'Author'),
      ref('encounter', ['context.encounter'], ['Encounter', 'EpisodeOfCare'], 'Context encounter'),
      ref('related', ['context.related'], [], 'Related resources'),
      date('date', ['date'], 'When the reference was created'),
    ],
  },
  { type: 'Binary', writable: true, personal: true, params: [] },
  {
    type: 'Composition',
    writable: false,
    personal: true,
    params: [
      id(),
      status(),
      token('type', ['type'], 'Document type'),
      ref('subject', ['subject'], [], 'Who the composition is about'),
      patientAlias('subject'),
      ref('encounter', ['encounter'], ['Encounter'], 'Encounter'),
      date('date', ['date'], 'Composition editing time'),
    ],
  },
  {
    type: 'QuestionnaireResponse',
    writable: true,
    personal: true,
    params: [
      id(),
      status(),
      ref('subject', ['subject'], [], 'Subject of the answers'),
      patientAlias('subject'),
      ref('based-on', ['basedOn'], ['CarePlan', 'ServiceRequest'], 'Plan or request fulfilled'),
      ref('encounter', ['encounter'], ['Encounter'], 'Encounter'),
      date('authored', ['authored'], 'When the answers were gathered'),
    ],
  },
  {
    type: 'Consent',
    writable: true,
    personal: true,
    params: [
      id(),
      status(),
      token('category', ['category'], 'Consent category'),
      ref('patient', ['patient'], ['Patient'], 'Who the consent applies to'),
      date('date', ['dateTime'], 'When the consent was agreed'),
    ],
  },
  {
    type: 'Location',
    writable: false,
    personal: false,
    params: [id(), str('name', ['name', 'alias'], 'Name or alias'), ref('organization', ['managingOrganization'], ['Organization'], 'Managing organization')],
  },
  {
    type: 'HealthcareService',
    writable: false,
    personal: false,
    params: [id(), str('name', ['name'], 'Name'), ref('organization', ['providedBy'], ['Organization'], 'Providing organization')],
  },
  {
    type: 'Provenance',
    writable: false,
    personal: true,
    params: [
      ref('target', ['target'], [], 'Target reference(s)'),
      patientAlias('target'),
      ref('agent', ['agent.who'], PARTY, 'Who participated'),
      ref('entity', ['entity.what'], [], 'Source entity'),
      date('recorded', ['recorded'], 'When the activity was recorded'),
    ],
  },
  {
    type: 'AuditEvent',
    writable: false,
    personal: true,
    params: [
      date('date', ['recorded'], 'Time when the event was recorded'),
      token('type', ['type'], 'Type of event'),
      token('subtype', ['subtype'], 'More specific type'),
      token('action', ['action'], 'C | R | U | D | E'),
      token('outcome', ['outcome'], 'Whether the event succeeded'),
      ref('agent', ['agent.who'], PARTY, 'Who participated'),
      token('altid', ['agent.altId'], 'Alternative user id of the agent'),
      ref('entity', ['entity.what'], [], 'Specific instance of resource'),
      patientAlias('entity'),
    ],
  },
  {
    type: 'Account',
    writable: false,
    personal: false,
    params: [id(), status(), str('name', ['name'], 'Human-readable label'), date('period', ['servicePeriod'], 'Transaction window')],
  },
  {
    type: 'Coverage',
    writable: false,
    personal: true,
    params: [
      id(),
      status(),
      ref('beneficiary', ['beneficiary'], ['Patient'], 'Covered party'),
      patientAlias('beneficiary'),
      ref('payor', ['payor'], ['Organization', 'Patient', 'RelatedPerson'], 'The party who pays'),
    ],
  },
  {
    type: 'ChargeItem',
    writable: false,
    personal: true,
    params: [
      id(),
      token('code', ['code'], 'A code that identifies the charge item'),
      ref('subject', ['subject'], ['Patient', 'Group'], 'Individual service was done for/to'),
      patientAlias('subject'),
      ref('context', ['context'], ['Encounter', 'EpisodeOfCare'], 'Encounter / episode associated with the event'),
      ref('account', ['account'], ['Account'], 'Account to place this charge'),
      date('entered-date', ['enteredDate'], 'Date the charge item was entered'),
    ],
  },
  {
    type: 'Invoice',
    writable: false,
    personal: false,
    params: [
      id(),
      status(),
      ref('recipient', ['recipient'], ['Organization', 'Patient', 'RelatedPerson'], 'Recipient of this invoice'),
      date('date', ['date'], 'Invoice date / posting date'),
    ],
  },
  // CodeSystem and ValueSet are served by the dictionaries (src/fhir-api/terminology.ts, an extension).
  {
    type: 'ConceptMap',
    writable: false,
    personal: false,
    params: [
      { name: 'url', type: 'uri', paths: ['url'], description: 'Canonical URL' },
      token('version', ['version'], 'Business version'),
      str('name', ['name'], 'Computationally friendly name'),
      status(),
    ],
  },
];

export const RESOURCE_TYPES: ReadonlyMap<string, ResourceTypeDef> = new Map(TYPES.map((t) => [t.type, t]));

export function typeDef(type: string): ResourceTypeDef | undefined {
  return RESOURCE_TYPES.get(type);
}

export function paramDef(type: string, name: string): SearchParamDef | undefined {
  return RESOURCE_TYPES.get(type)?.params.find((p) => p.name === name);
}

/** Collection holding the current version of every resource of a type. */
export function currentCollectionName(type: string): string {
  return `fhir_${type}`;
}

export const HISTORY_COLLECTION = 'fhir_history';
export const SEARCH_INDEX_COLLECTION = 'fhir_search_index';

