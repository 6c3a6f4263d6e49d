/**
 * Care plans as FHIR: every stored care plan (with its activities inline) is mirrored as a FHIR R4 CarePlan through
 * the FHIR repository (ctx.fhir), and every created activity gets a Provenance whose `signature` carries the signer
 * and the SHA-256 of the signed original. Writes are idempotent (deterministic ids, compare-before-update,
 * If-Match versions) so a job that dies half way converges on retry.
 */
import { createHash } from 'node:crypto';
import type { CarePlan, CarePlanActivity, CodeableConcept as FhirCodeableConcept, Condition, Provenance, Quantity, Reference as FhirReference, Resource, Timing } from '@medplum/fhirtypes';
import { canonicalJson } from '../fhir-store/canonical-json.js';
import { fhirIdOf } from '../dictionaries/format.js';
import { extensionUrl } from '../lib/fhir-extensions.js';
import { fhirStatus } from '../fhir-store/errors.js';
import type { TenantFhirStore } from '../fhir-store/ports.js';
import type { CarePlanDeps } from './deps.js';
import { log } from '../platform/logging/logger.js';
import { CARE_PLAN_ACTIVITIES, CARE_PLANS } from './collections.js';
import type { ActivityDoc, CarePlanDoc, CodeableConcept, QuantityValue, Reference } from './types.js';
import { refType } from './types.js';

/** Product base of this engine's FHIR systems (same as src/lib/fhir-systems.ts). */
const BASE = 'https://hl7-engine.dev/fhir';
const CARE_PLAN_SYSTEMS = {
  carePlan: `${BASE}/NamingSystem/ehealth-care-plan`,
  requisition: `${BASE}/NamingSystem/ehealth-care-plan-requisition`,
  activity: `${BASE}/NamingSystem/ehealth-care-plan-activity`,
  /** eHealth resource ids: `${BASE}/NamingSystem/ehealth-<resource>` (patient, employee, legal_entity, medication, ...). */
  resource: (type: string) => `${BASE}/NamingSystem/ehealth-${type.replace(/_/g, '-')}`,
  signedContent: `${BASE}/NamingSystem/ehealth-signed-content`,
} as const;
const CARE_PLAN_EXTENSIONS = {
  status: extensionUrl('ehealth-care-plan-status'),
  termsOfService: extensionUrl('ehealth-terms-of-service'),
  managingOrganization: extensionUrl('ehealth-managing-organization'),
  activityStatus: extensionUrl('ehealth-care-plan-activity-status'),
  remainingQuantity: extensionUrl('ehealth-remaining-quantity'),
  program: extensionUrl('ehealth-medical-program'),
  signedContentSha256: extensionUrl('signed-content-sha256'),
  signerCertificate: extensionUrl('signer-certificate'),
  targetElement: 'http://hl7.org/fhir/StructureDefinition/targetElement',
} as const;

/** The FHIR operations used here. */
type FhirPort = Pick<TenantFhirStore, 'create' | 'read' | 'update'>;

/**
 * The FHIR repository of the tenant a care plan belongs to: its managing legal entity. The CarePlan mirror and the
 * Provenance of its activities live there (an approved employee of another legal entity adds activities to that plan).
 */
export function fhirOf(ctx: CarePlanDeps, plan: Pick<CarePlanDoc, 'managing_organization'>): FhirPort {
  return ctx.fhir.forTenant(plan.managing_organization.identifier.value);
}


/** A stable UUID-shaped id (version 8) for a natural key. */
function deterministicId(kind: string, key: string): string {
  const h = createHash('sha256').update(`${kind}\u0000${key}`).digest();
  h[6] = (h[6] & 0x0f) | 0x80;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export const provenanceIdOf = (activityId: string) => deterministicId('Provenance', `care_plan_activity/${activityId}/create`);

function idRef(r: Reference | undefined, fhirType?: string, display?: string): FhirReference | undefined {
  if (!r) return undefined;
  const type = refType(r) ?? 'resource';
  const out: FhirReference = { identifier: { system: CARE_PLAN_SYSTEMS.resource(type), value: r.identifier.value } };
  if (fhirType) out.type = fhirType as FhirReference['type'];
  if (display ?? r.display_value) out.display = (display ?? r.display_value) as string;
  return out;
}

function concept(c: CodeableConcept): FhirCodeableConcept {
  const out: FhirCodeableConcept = { coding: c.coding.map((k) => ({ system: k.system, code: k.code, ...(k.display ? { display: k.display } : {}) })) };
  if (c.text) out.text = c.text;
  return out;
}

/**
 * FHIR's Quantity.system is an absolute URI; eHealth names a dictionary (MEDICATION_UNIT). Such a name becomes the
 * canonical URL of that dictionary's CodeSystem in the engine's terminology (`<DICTIONARY_CANONICAL_BASE>/CodeSystem/<id>`).
 */
function quantitySystem(system: string, dictionaryBase: string): string {
  return /^[a-z][a-z0-9+.-]*:/i.test(system) ? system : `${dictionaryBase}/CodeSystem/${fhirIdOf({ name: system })}`;
}

function quantity(q: QuantityValue | undefined, dictionaryBase: string): Quantity | undefined {
  if (!q) return undefined;
  const out: Quantity = { value: q.value };
  if (q.unit) out.unit = q.unit;
  if (q.system) out.system = quantitySystem(q.system, dictionaryBase);
  if (q.code) out.code = q.code;
  return out;
}

const CARE_PLAN_STATUS: Record<string, CarePlan['status']> = {
  new: 'draft',
  active: 'active',
  completed: 'completed',
  cancelled: 'revoked',
  terminated: 'revoked',
};
const ACTIVITY_STATUS: Record<string, 'scheduled' | 'in-progress' | 'completed' | 'cancelled'> = {
  scheduled: 'scheduled',
  in_progress: 'in-progress',
  completed: 'completed',
  cancelled: 'cancelled',
};
const KIND: Record<string, 'MedicationRequest' | 'ServiceRequest' | 'DeviceRequest'> = {
  medication_request: 'MedicationRequest',
  service_request: 'ServiceRequest',
  device_request: 'DeviceRequest',
};
const UNITS_OF_TIME: Record<string, string> = {
  s: 's', second: 's', sec: 's', min: 'min', minute: 'min', h: 'h', hour: 'h', d: 'd', day: 'd', wk: 'wk', week: 'wk', mo: 'mo', month: 'mo', a: 'a', year: 'a',
};
const REASON_TYPES: Record<string, string> = { condition: 'Condition', observation: 'Observation', diagnostic_report: 'DiagnosticReport' };

function timing(t: unknown): Timing | undefined {
  if (!t || typeof t !== 'object') return undefined;
  const src = t as Record<string, any>;
  const out: Timing = {};
  if (Array.isArray(src.event)) out.event = src.event;
  if (src.code) out.code = concept(src.code);
  const r = src.repeat as Record<string, any> | undefined;
  if (r) {
    const repeat: NonNullable<Timing['repeat']> = {};
    const unit = (u: unknown) => (typeof u === 'string' ? UNITS_OF_TIME[u] : undefined) as 's' | 'min' | 'h' | 'd' | 'wk' | 'mo' | 'a' | undefined;
    if (r.bounds_duration) repeat.boundsDuration = { value: r.bounds_duration.value, unit: r.bounds_duration.unit, system: r.bounds_duration.system, code: r.bounds_duration.code, ...(r.bounds_duration.comparator ? { comparator: r.bounds_duration.comparator } : {}) };
    if (r.bounds_range) repeat.boundsRange = { low: { value: r.bounds_range.low.value, system: r.bounds_range.low.system, code: r.bounds_range.low.code }, high: { value: r.bounds_range.high.value, system: r.bounds_range.high.system, code: r.bounds_range.high.code } };
    if (r.bounds_period) repeat.boundsPeriod = r.bounds_period;
    for (const [from, to] of [['count', 'count'], ['count_max', 'countMax'], ['duration', 'duration'], ['duration_max', 'durationMax'], ['frequency', 'frequency'], ['frequency_max', 'frequencyMax'], ['period', 'period'], ['period_max', 'periodMax'], ['offset', 'offset']] as const) {
      if (typeof r[from] === 'number') (repeat as Record<string, number>)[to] = r[from];
    }
    if (unit(r.duration_unit)) repeat.durationUnit = unit(r.duration_unit);
    if (unit(r.period_unit)) repeat.periodUnit = unit(r.period_unit);
    if (Array.isArray(r.day_of_week)) repeat.dayOfWeek = r.day_of_week;
    if (Array.isArray(r.time_of_day)) repeat.timeOfDay = r.time_of_day.map((x: string) => (x.length === 5 ? `${x}:00` : x));
    if (Array.isArray(r.when)) repeat.when = r.when;
    out.repeat = repeat;
  }
  return out;
}

function fhirActivity(a: ActivityDoc, dictionaryBase: string): CarePlanActivity {
  const d = a.detail;
  const type = refType(d.product_reference);
  const detail: NonNullable<CarePlanActivity['detail']> = {
    kind: KIND[d.kind],
    status: ACTIVITY_STATUS[d.status] ?? 'unknown',
    doNotPerform: d.do_not_perform,
    extension: [{ url: CARE_PLAN_EXTENSIONS.activityStatus, valueCode: d.status }],
  };
  if (type === 'medication') detail.productReference = idRef(d.product_reference, 'Medication') as FhirReference<never>;
  else if (type && d.product_reference) {
    detail.code = { coding: [{ system: CARE_PLAN_SYSTEMS.resource(type), code: d.product_reference.identifier.value }] };
  }
  if (d.product_codeable_concept) detail.productCodeableConcept = concept(d.product_codeable_concept);
  if (d.reason_code?.length) detail.reasonCode = d.reason_code.map(concept);
  const reasons = (d.reason_reference ?? []).filter((r) => REASON_TYPES[refType(r) ?? '']);
  if (reasons.length) detail.reasonReference = reasons.map((r) => idRef(r, REASON_TYPES[refType(r)!])!) as NonNullable<typeof detail.reasonReference>;
  if (d.quantity) detail.quantity = quantity(d.quantity, dictionaryBase);
  if (d.daily_amount) detail.dailyAmount = quantity(d.daily_amount, dictionaryBase);
  if (d.scheduled_timing) detail.scheduledTiming = timing(d.scheduled_timing);
  if (d.scheduled_period) detail.scheduledPeriod = d.scheduled_period;
  if (d.scheduled_string) detail.scheduledString = d.scheduled_string;
  if (d.location) detail.location = idRef(d.location, 'Location') as FhirReference<never>;
  if (d.performer) detail.performer = [idRef(d.performer, 'PractitionerRole') as FhirReference<never>];
  if (d.description) detail.description = d.description;
  if (d.status_reason) detail.statusReason = concept(d.status_reason);
  if (d.remaining_quantity) detail.extension!.push({ url: CARE_PLAN_EXTENSIONS.remainingQuantity, valueQuantity: quantity(d.remaining_quantity, dictionaryBase) });
  if (d.program) detail.extension!.push({ url: CARE_PLAN_EXTENSIONS.program, valueReference: idRef(d.program) });
  const out: CarePlanActivity = { id: a._id, detail };
  if (a.outcome_codeable_concept?.length) out.outcomeCodeableConcept = a.outcome_codeable_concept.map(concept);
  return out;
}

/** The FHIR CarePlan of a stored care plan and its activities. */
function toFhirCarePlan(plan: CarePlanDoc, activities: ActivityDoc[], dictionaryBase: string): CarePlan {
  const subject: FhirReference = { identifier: { system: CARE_PLAN_SYSTEMS.resource('patient'), value: plan.patient_id }, type: 'Patient' };
  const contained: Condition[] = plan.addresses.map((c, i) => ({
    resourceType: 'Condition',
    id: `addresses-${i + 1}`,
    code: concept(c),
    subject: subject as FhirReference<never>,
  }));
  const out: CarePlan = {
    resourceType: 'CarePlan',
    id: plan._id,
    contained,
    extension: [
      { url: CARE_PLAN_EXTENSIONS.status, valueCode: plan.status },
      { url: CARE_PLAN_EXTENSIONS.termsOfService, valueCodeableConcept: concept(plan.terms_of_service) },
      { url: CARE_PLAN_EXTENSIONS.managingOrganization, valueReference: idRef(plan.managing_organization, 'Organization') },
    ],
    identifier: [
      { system: CARE_PLAN_SYSTEMS.carePlan, value: plan._id },
      { system: CARE_PLAN_SYSTEMS.requisition, value: plan.requisition },
    ],
    status: CARE_PLAN_STATUS[plan.status],
    intent: 'order',
    category: [concept(plan.category)],
    title: plan.title,
    subject: subject as FhirReference<never>,
    period: plan.period,
    created: plan.inserted_at.toISOString(),
    author: idRef(plan.author, 'PractitionerRole') as FhirReference<never>,
    addresses: contained.map((c) => ({ reference: `#${c.id}` })) as FhirReference<never>[],
  };
  if (plan.description) out.description = plan.description;
  if (plan.encounter) out.encounter = idRef(plan.encounter, 'Encounter') as FhirReference<never>;
  if (plan.contributor?.length) out.contributor = plan.contributor.map((c) => idRef(c, 'PractitionerRole') as FhirReference<never>);
  if (plan.note) out.note = [{ text: plan.note }];
  if (activities.length) out.activity = activities.map((a) => fhirActivity(a, dictionaryBase));
  return out;
}

function sameContent(a: Resource, b: Resource): boolean {
  const strip = (r: Resource) => ({ ...r, meta: undefined, text: undefined });
  return canonicalJson(strip(a)) === canonicalJson(strip(b));
}

/**
 * Makes the FHIR CarePlan equal to the stored care plan (created when absent, updated with If-Match when different,
 * untouched when equal). Safe to call any number of times, from any job.
 */
export async function syncFhirCarePlan(ctx: CarePlanDeps, carePlanId: string, justRead?: CarePlanDoc): Promise<void> {
  const db = ctx.database.db;
  for (let attempt = 0; attempt < 6; attempt++) {
    // `justRead`: the plan as the caller has just read (or written) it; used for the first attempt only.
    const plan = attempt === 0 && justRead ? justRead : await db.collection<CarePlanDoc>(CARE_PLANS).findOne({ _id: carePlanId });
    if (!plan) return;
    const fhir = fhirOf(ctx, plan);
    const activities = await db.collection<ActivityDoc>(CARE_PLAN_ACTIVITIES).find({ care_plan_id: carePlanId }).sort({ inserted_at: 1, _id: 1 }).limit(5000).toArray();
    const desired = toFhirCarePlan(plan, activities, ctx.config.dictionaries.canonicalBase);
    let current: CarePlan | undefined;
    try {
      current = await fhir.read<CarePlan>('CarePlan', carePlanId);
    } catch (err) {
      if (fhirStatus(err) !== 404 && fhirStatus(err) !== 410) throw err;
    }
    try {
      if (!current) {
        await fhir.create(desired, { id: carePlanId });
        return;
      }
      if (sameContent(current, desired)) return;
      await fhir.update(desired, { ifMatchVersion: current.meta?.versionId });
      return;
    } catch (err) {
      // 409: created meanwhile; 412: updated meanwhile — read again and converge.
      if (fhirStatus(err) !== 409 && fhirStatus(err) !== 412) throw err;
      log().debug({ carePlanId, status: fhirStatus(err) }, 'FHIR CarePlan changed concurrently; retrying');
    }
  }
  throw new Error('FHIR CarePlan kept changing concurrently');
}

interface SignatureFacts {
  activityId: string;
  carePlanId: string;
  patientId: string;
  authorEmployeeId: string;
  legalEntityId: string;
  mediaKey: string;
  sha256: string;
  der: Buffer;
  signingTime?: Date;
  signer: { subject: string; issuer: string; serialNumber: string; fingerprintSha256?: string };
  recorded: Date;
}

function commonName(subject: string): string | undefined {
  return /(?:^|,\s*)CN=([^,]+)/.exec(subject)?.[1];
}

/** The Provenance of a created activity (signature = the signed original, its signer and hash). */
function activityProvenance(s: SignatureFacts): Provenance {
  const employee: FhirReference = { identifier: { system: CARE_PLAN_SYSTEMS.resource('employee'), value: s.authorEmployeeId }, type: 'PractitionerRole' };
  const cn = commonName(s.signer.subject);
  const signerRef: FhirReference = { ...employee, ...(cn ? { display: cn } : {}) };
  return {
    resourceType: 'Provenance',
    id: provenanceIdOf(s.activityId),
    target: [
      {
        reference: `CarePlan/${s.carePlanId}`,
        extension: [{ url: CARE_PLAN_EXTENSIONS.targetElement, valueUri: s.activityId }],
      },
    ],
    recorded: s.recorded.toISOString(),
    ...(s.signingTime ? { occurredDateTime: s.signingTime.toISOString() } : {}),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE', display: 'create' }] },
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author', display: 'Author' }] },
        who: signerRef as FhirReference<never>,
        onBehalfOf: { identifier: { system: CARE_PLAN_SYSTEMS.resource('legal_entity'), value: s.legalEntityId }, type: 'Organization' } as FhirReference<never>,
      },
    ],
    entity: [
      {
        role: 'source',
        what: { identifier: { system: CARE_PLAN_SYSTEMS.signedContent, value: s.mediaKey }, display: 'Signed original (CMS SignedData, DER)' },
      },
    ],
    signature: [
      {
        type: [{ system: 'urn:iso-astm:E1762-95:2013', code: '1.2.840.10065.1.12.1.1', display: "Author's Signature" }],
        when: (s.signingTime ?? s.recorded).toISOString(),
        who: signerRef as FhirReference<never>,
        targetFormat: 'application/json',
        sigFormat: 'application/pkcs7-signature',
        data: s.der.toString('base64'),
        extension: [
          { url: CARE_PLAN_EXTENSIONS.signedContentSha256, valueString: s.sha256 },
          {
            url: CARE_PLAN_EXTENSIONS.signerCertificate,
            extension: [
              { url: 'subject', valueString: s.signer.subject },
              { url: 'issuer', valueString: s.signer.issuer },
              { url: 'serialNumber', valueString: s.signer.serialNumber },
              ...(s.signer.fingerprintSha256 ? [{ url: 'fingerprintSha256', valueString: s.signer.fingerprintSha256 }] : []),
            ],
          },
        ],
      },
    ],
  };
}

/** Creates the activity's Provenance unless it exists (deterministic id). */
export async function ensureProvenance(ctx: CarePlanDeps, plan: Pick<CarePlanDoc, 'managing_organization'>, s: SignatureFacts): Promise<void> {
  const fhir = fhirOf(ctx, plan);
  const resource = activityProvenance(s);
  try {
    // The unique history insert of version 1 tells a retry (409) from the first run.
    await fhir.create(resource, { id: resource.id });
  } catch (err) {
    if (fhirStatus(err) !== 409) throw err;
  }
}
