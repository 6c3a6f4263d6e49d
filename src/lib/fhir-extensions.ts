/**
 * The engine's own FHIR extensions: one table, from which come their canonical URLs (used when writing them), their
 * StructureDefinitions (served at /fhir/StructureDefinition/<id>, listed in the CapabilityStatement and given to the
 * HL7 reference validator, tools/fhir-validator) and the documentation in docs/conformance.md.
 */
import type { ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';

/** Canonical base of the engine's conformance resources (StructureDefinition, NamingSystem). */
const ENGINE_CANONICAL_BASE = 'https://hl7-engine.dev/fhir';

type ValueType = 'string' | 'uri' | 'dateTime' | 'instant' | 'date' | 'code' | 'Coding' | 'CodeableConcept' | 'Quantity' | 'Reference';

interface Part {
  name: string;
  type: ValueType;
  min: 0 | 1;
  short: string;
}

interface ExtensionDefinition {
  id: string;
  /** The canonical URL when it is not the engine's (`<ENGINE_CANONICAL_BASE>/StructureDefinition/<id>`). */
  url?: string;
  title: string;
  description: string;
  /** Where it may appear: resource types or element paths (e.g. 'CarePlan.activity.detail'). */
  context: string[];
  /** A simple extension's value type, or the sub-extensions of a complex one. */
  value: { type: ValueType; targets?: string[] } | { parts: Part[] };
}

/** Resources that ingestion (henvisning, Pridok) writes: each version carries the source-message extension. */
const INGESTED = ['Patient', 'Organization', 'Practitioner', 'PractitionerRole', 'ServiceRequest', 'Encounter', 'DocumentReference'];

export const ENGINE_EXTENSIONS: readonly ExtensionDefinition[] = [
  {
    id: 'source-message',
    title: 'Source message',
    description:
      'The inbound message (henvisning or Pridok) that wrote this version: its sender id, when the sender created it ' +
      '(MsgHead GenDate or Pridok MessageTimestamp, Oslo local time written with its offset), when the engine received ' +
      'it and its message-store id. An older message never overwrites what a newer one wrote.',
    context: INGESTED,
    value: {
      parts: [
        { name: 'messageId', type: 'string', min: 1, short: 'The sender\u2019s message id (MsgId, JournalGuid)' },
        { name: 'sent', type: 'dateTime', min: 0, short: 'When the sender created the message' },
        { name: 'received', type: 'instant', min: 1, short: 'When the engine received the message' },
        { name: 'storeId', type: 'string', min: 1, short: 'The engine\u2019s message-store id' },
      ],
    },
  },
  {
    id: 'henvisning-priority',
    title: 'Henvisning priority',
    description: 'The Hastegrad of a henvisning as sent (Volven 8304 or 8306), next to ServiceRequest.priority.',
    context: ['ServiceRequest'],
    value: { type: 'Coding' },
  },
  {
    id: 'henvisning-assessment-date',
    title: 'Henvisning assessment date',
    description: 'VurderingAvHenvisning/DatoMottakOgVurdering of a henvisning: the kind of date (Volven 9147) and the date.',
    context: ['ServiceRequest'],
    value: {
      parts: [
        { name: 'type', type: 'Coding', min: 1, short: 'Kind of date (Volven 9147)' },
        { name: 'date', type: 'date', min: 1, short: 'The date' },
      ],
    },
  },
  {
    id: 'henvisning-pakkeforlop',
    title: 'Henvisning pakkeforl\u00f8p',
    description: 'The pakkeforl\u00f8p (cancer patient pathway) code of a henvisning (Volven 8480 or 9321).',
    context: ['ServiceRequest'],
    value: { type: 'Coding' },
  },
  {
    id: 'pridok-format-id',
    title: 'Pridok FormatId',
    description: 'The FormatId of a Pridok referral.',
    context: ['ServiceRequest'],
    value: { type: 'string' },
  },
  {
    id: 'ehealth-care-plan-status',
    title: 'eHealth care plan status',
    description: 'The care plan status as the Ukrainian eHealth API states it (new, active, terminated, completed, ...).',
    context: ['CarePlan'],
    value: { type: 'code' },
  },
  {
    id: 'ehealth-terms-of-service',
    title: 'eHealth terms of service',
    description: 'The terms of service of an eHealth care plan (eHealth dictionary PROVIDING_CONDITION).',
    context: ['CarePlan'],
    value: { type: 'CodeableConcept' },
  },
  {
    id: 'ehealth-managing-organization',
    title: 'eHealth managing organization',
    description: 'The legal entity that manages an eHealth care plan.',
    context: ['CarePlan'],
    value: { type: 'Reference', targets: ['Organization'] },
  },
  {
    id: 'ehealth-care-plan-activity-status',
    title: 'eHealth care plan activity status',
    description: 'The activity status as the Ukrainian eHealth API states it (scheduled, in_progress, completed, cancelled).',
    context: ['CarePlan.activity.detail'],
    value: { type: 'code' },
  },
  {
    id: 'ehealth-remaining-quantity',
    title: 'eHealth remaining quantity',
    description: 'What remains of an activity\u2019s quantity.',
    context: ['CarePlan.activity.detail'],
    value: { type: 'Quantity' },
  },
  {
    id: 'ehealth-medical-program',
    title: 'eHealth medical program',
    description: 'The medical program an activity belongs to.',
    context: ['CarePlan.activity.detail'],
    value: { type: 'Reference' },
  },
  {
    id: 'signed-content-sha256',
    title: 'Signed content SHA-256',
    description: 'The SHA-256 (hex) of the signed content a Provenance signature covers.',
    context: ['Provenance.signature'],
    value: { type: 'string' },
  },
  {
    id: 'signer-certificate',
    title: 'Signer certificate',
    description: 'The certificate that made a Provenance signature: subject and issuer (RFC 4514), serial number, SHA-256 fingerprint.',
    context: ['Provenance.signature'],
    value: {
      parts: [
        { name: 'subject', type: 'string', min: 1, short: 'Subject DN' },
        { name: 'issuer', type: 'string', min: 1, short: 'Issuer DN' },
        { name: 'serialNumber', type: 'string', min: 1, short: 'Serial number (hex)' },
        { name: 'fingerprintSha256', type: 'string', min: 0, short: 'SHA-256 fingerprint of the DER certificate (hex)' },
      ],
    },
  },
];

/**
 * HL7 extensions the engine writes that R4's core package does not define: they come from the FHIR Extensions Pack
 * (hl7.fhir.uv.extensions), which the offline reference validator lacks, so it is given these definitions of them
 * (tools/fhir-validator/export.ts). Not served by the API: they are HL7's, not the engine's.
 */
export const HL7_EXTENSIONS_USED: readonly ExtensionDefinition[] = [
  {
    id: 'targetElement',
    url: 'http://hl7.org/fhir/StructureDefinition/targetElement',
    title: 'Target element',
    description: 'The specific element of the referenced resource that is the target (its id); the engine puts the care plan activity a Provenance signs here.',
    context: ['Reference'],
    value: { type: 'uri' },
  },
];

export function extensionUrl(id: string): string {
  const def = ENGINE_EXTENSIONS.find((d) => d.id === id);
  if (!def) throw new Error(`No engine extension ${id}`);
  return def.url ?? `${ENGINE_CANONICAL_BASE}/StructureDefinition/${def.id}`;
}

function typeOf(type: ValueType, targets?: string[]): ElementDefinition['type'] {
  const t: NonNullable<ElementDefinition['type']>[number] = { code: type };
  if (type === 'Reference') t.targetProfile = (targets ?? ['Resource']).map((r) => `http://hl7.org/fhir/StructureDefinition/${r}`);
  return [t];
}

function pascal(id: string): string {
  return id.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase());
}

/** The StructureDefinition (differential, as HL7 publishes extension definitions) of an engine extension. */
export function structureDefinition(def: ExtensionDefinition, version: string): StructureDefinition {
  const url = def.url ?? extensionUrl(def.id);
  const elements: ElementDefinition[] = [{ id: 'Extension', path: 'Extension', short: def.title, definition: def.description }];
  if ('parts' in def.value) {
    elements.push({
      id: 'Extension.extension',
      path: 'Extension.extension',
      slicing: { discriminator: [{ type: 'value', path: 'url' }], rules: 'closed' },
      min: 1,
    });
    for (const p of def.value.parts) {
      const slice = `Extension.extension:${p.name}`;
      elements.push(
        { id: slice, path: 'Extension.extension', sliceName: p.name, short: p.short, definition: p.short, min: p.min, max: '1' },
        { id: `${slice}.extension`, path: 'Extension.extension.extension', max: '0' },
        { id: `${slice}.url`, path: 'Extension.extension.url', fixedUri: p.name },
        { id: `${slice}.value[x]`, path: 'Extension.extension.value[x]', min: 1, type: typeOf(p.type) },
      );
    }
    elements.push({ id: 'Extension.url', path: 'Extension.url', fixedUri: url }, { id: 'Extension.value[x]', path: 'Extension.value[x]', max: '0' });
  } else {
    elements.push(
      { id: 'Extension.extension', path: 'Extension.extension', max: '0' },
      { id: 'Extension.url', path: 'Extension.url', fixedUri: url },
      { id: 'Extension.value[x]', path: 'Extension.value[x]', min: 1, type: typeOf(def.value.type, def.value.targets) },
    );
  }
  return {
    resourceType: 'StructureDefinition',
    id: def.id,
    url,
    version,
    name: pascal(def.id),
    title: def.title,
    status: 'active',
    publisher: 'hl7-engine',
    description: def.description,
    fhirVersion: '4.0.1',
    kind: 'complex-type',
    abstract: false,
    context: def.context.map((expression) => ({ type: 'element' as const, expression })),
    type: 'Extension',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Extension',
    derivation: 'constraint',
    differential: { element: elements },
  };
}
