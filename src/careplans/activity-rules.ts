/**
 * The checks a "create care plan activity" job runs, in order, as one named list that reads like the source spec
 * (eHealth's "Create Care Plan Activity"), completed by eHealth's reference code and API Blueprint. The first failing
 * rule ends the job `failed` with its status code and error body (the POST already answered 202). Each rule's source:
 *   spec — the source specification (wins);  code — the reference implementation's code (ehealth-ua medical_events);
 *   conf — other eHealth specification pages or the API Blueprint;  infer — our own choice (docs/care-plans.md).
 */
import type { ValidateFunction } from 'ajv';
import type { CarePlanDeps } from './deps.js';
import { createAjv, validateWith } from '../platform/http/validation-error.js';
import { verifySignedData } from '../lib/signature/index.js';
import { log } from '../platform/logging/logger.js';
import type { SignatureVerdict } from '../lib/signature/index.js';
import type { Employee, MedicalProgram, Medication, Party, PatientEvent, ProgramMedication } from '../registries/types.js';
import { CARE_PLAN_ACTIVITIES, CARE_PLANS } from './collections.js';
import { conflict, notFound, schemaFailure, unprocessable, unprocessableMessage } from './failures.js';
import { MSG } from './messages.js';
import { carePlanActivitySchema } from './schemas.js';
import { taxIdsMatch } from './tax-id.js';
import {
  FINAL_CARE_PLAN_STATUSES,
  refType,
  type ActivityDoc,
  type CarePlanDoc,
  type CreateActivityJobData,
  type SignedActivity,
} from './types.js';

type ValidVerdict = Extract<SignatureVerdict, { valid: true }>;

/** What the rules read and what they establish for the processing steps. */
export class ActivityFacts {
  /** The decoded CMS (DER): the signed original. */
  der?: Buffer;
  rawVerdict?: SignatureVerdict;
  verdict?: ValidVerdict;
  content?: SignedActivity;
  party?: Party;
  author?: Employee;
  carePlan?: CarePlanDoc;
  /** This job's own activity when a previous attempt stored it already (a retry). */
  ownActivity?: ActivityDoc;
  medication?: Medication;
  program?: MedicalProgram;
  programMedications?: Promise<ProgramMedication[]>;
  reasonRecords = new Map<number, PatientEvent>();

  constructor(
    readonly ctx: CarePlanDeps,
    readonly data: CreateActivityJobData,
    readonly jobId: string,
  ) {}

  get detail(): SignedActivity['detail'] {
    return this.content!.detail;
  }
}

export interface ActivityRule {
  name: string;
  source: 'spec' | 'code' | 'conf' | 'infer';
  check(f: ActivityFacts): Promise<void>;
}

let validateActivity: ValidateFunction | undefined;
function activityValidator(): ValidateFunction {
  validateActivity ??= createAjv().compile(carePlanActivitySchema);
  return validateActivity;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const PRODUCT_NAMES: Record<string, string> = { medication: 'Medication', service: 'Service', service_group: 'Service group' };
const REASON: Record<string, { registry: 'conditions' | 'observations' | 'diagnostic_reports' | 'clinical_impressions'; name: string }> = {
  condition: { registry: 'conditions', name: 'Condition' },
  observation: { registry: 'observations', name: 'Observation' },
  diagnostic_report: { registry: 'diagnostic_reports', name: 'Diagnostic report' },
  clinical_impression: { registry: 'clinical_impressions', name: 'Clinical impression' },
};

const PRODUCT = '$.detail.product_reference.identifier.value';
const PROGRAM = '$.detail.program.identifier.value';

function codes(concepts: { coding: { system: string; code: string }[] }[] | undefined, system: string): string[] {
  return (concepts ?? []).flatMap((c) => c.coding.filter((k) => k.system === system).map((k) => k.code));
}

/** Program membership of an INNM_DOSAGE: through the BRANDs whose primary ingredient it is. */
async function programMedications(f: ActivityFacts): Promise<ProgramMedication[]> {
  f.programMedications ??= findProgramMedications(f);
  return f.programMedications;
}

async function findProgramMedications(f: ActivityFacts): Promise<ProgramMedication[]> {
  const innmDosageId = f.medication!.id;
  const brands = (await f.ctx.registries.find('medications', { type: 'BRAND', 'ingredients.id': innmDosageId })).filter(
    (b) => b.is_active && b.ingredients.some((i) => i.id === innmDosageId && i.is_primary),
  );
  if (brands.length === 0) return [];
  const rows = await f.ctx.registries.find('program_medications', {
    medical_program_id: f.program!.id,
    medication_id: { $in: brands.map((b) => b.id) },
  });
  return rows.filter((r) => r.is_active);
}

export const activityRules: ActivityRule[] = [
  // ---- digital signature (as the eHealth Medical Events service decodes and checks signed_data) ----
  {
    name: 'signed_data is a decodable CMS SignedData',
    source: 'code',
    async check(f) {
      const compact = f.data.signed_data.replace(/\s+/g, '');
      if (!BASE64.test(compact) || compact.length % 4 !== 0) throw unprocessable('$.signed_data', MSG.invalidSignedContent);
      f.der = Buffer.from(compact, 'base64');
    },
  },
  {
    name: 'exactly one signer',
    source: 'code',
    async check(f) {
      const verdict = await verifySignedData(f.der!, { trust: f.ctx.signatureTrust });
      if (!verdict.valid && verdict.unexpected) log().warn({ err: verdict.unexpected }, 'unexpected error while verifying signed data');
      if (!verdict.valid && verdict.code === 'malformed') throw unprocessable('$.signed_data', MSG.invalidSignedContent);
      const count = verdict.signerCount;
      if (count !== undefined && count !== 1) throw unprocessable('$.signed_data', MSG.signerCount(count));
      f.rawVerdict = verdict;
    },
  },
  {
    name: 'signature is valid (digest, signature, trusted chain, validity, revocation)',
    source: 'code',
    async check(f) {
      const verdict = f.rawVerdict!;
      if (!verdict.valid) throw unprocessable('$.signed_data', verdict.message);
      f.verdict = verdict;
    },
  },
  {
    name: 'signed content is a JSON object',
    source: 'code',
    async check(f) {
      const json = f.verdict!.json;
      if (!json || typeof json !== 'object' || Array.isArray(json)) throw unprocessable('$.signed_data', MSG.malformedContent);
    },
  },
  {
    name: "signer's certificate carries a DRFO (tax id)",
    source: 'code',
    async check(f) {
      if (!f.verdict!.signer.taxId) throw conflict(MSG.invalidDrfo);
    },
  },
  {
    name: "signer's DRFO equals the tax_id of the user's party (transliteration-tolerant)",
    source: 'conf',
    async check(f) {
      const [party] = await f.ctx.registries.find('parties', { users: f.data.user_id }, 1);
      f.party = party;
      if (!party || !taxIdsMatch(f.verdict!.signer.taxId!, party.tax_id)) throw conflict(MSG.drfoMismatch);
    },
  },

  // ---- signed content: the blueprint's Care_Plan_activity_base schema, then consistency with the request ----
  {
    name: 'signed content matches the Care_plan_activity schema',
    source: 'conf',
    async check(f) {
      const failed = validateWith(activityValidator(), f.verdict!.json);
      if (failed) throw schemaFailure(failed);
      f.content = f.verdict!.json as SignedActivity;
    },
  },
  {
    name: 'dictionary-coded values exist (MEDICATION_UNIT units, reason codes)',
    source: 'code',
    async check(f) {
      const d = f.detail;
      const dict = f.ctx.dictionaries;
      for (const [path, q] of [
        ['$.detail.quantity.code', d.quantity],
        ['$.detail.daily_amount.code', d.daily_amount],
      ] as const) {
        if (q?.system === 'MEDICATION_UNIT' && q.code !== undefined && !(await dict.isValidCode('MEDICATION_UNIT', q.code))) {
          throw unprocessable(path, MSG.notInEnum, 'inclusion');
        }
      }
      for (const [i, concept] of (d.reason_code ?? []).entries()) {
        for (const [j, c] of concept.coding.entries()) {
          if (!(await dict.isValidCode(c.system, c.code))) throw unprocessable(`$.detail.reason_code[${i}].coding[${j}].code`, MSG.notInEnum, 'inclusion');
        }
      }
    },
  },
  {
    name: 'care plan of the signed content is the care plan of the URL',
    source: 'infer',
    async check(f) {
      if (f.content!.care_plan.identifier.value !== f.data.care_plan_id) throw unprocessable('$.care_plan.identifier.value', MSG.carePlanMismatch);
    },
  },
  {
    name: 'activity id is not used by another activity',
    source: 'infer',
    async check(f) {
      const existing = await f.ctx.database.db.collection<ActivityDoc>(CARE_PLAN_ACTIVITIES).findOne({ _id: f.content!.id });
      if (existing && existing.job_id !== f.jobId) throw unprocessable('$.id', MSG.activityExists);
      f.ownActivity = existing ?? undefined;
    },
  },
  {
    name: 'care plan still belongs to the patient and is not in a final status',
    source: 'conf',
    async check(f) {
      const plan = await f.ctx.database.db.collection<CarePlanDoc>(CARE_PLANS).findOne({ _id: f.data.care_plan_id, patient_id: f.data.patient_id });
      if (!plan) throw unprocessableMessage(MSG.carePlanNotFound);
      // A retry of a job that already stored its activity continues whatever happened to the plan since.
      if (!f.ownActivity && FINAL_CARE_PLAN_STATUSES.includes(plan.status)) throw unprocessableMessage(MSG.invalidCarePlanStatus);
      f.carePlan = plan;
    },
  },
  {
    name: "author is the user's active employee in the token's legal entity",
    source: 'code',
    async check(f) {
      const author = await f.ctx.registries.get('employees', f.content!.author.identifier.value);
      const ok =
        author &&
        f.party &&
        author.party_id === f.party.id &&
        author.legal_entity_id === f.data.client_id &&
        author.status === 'APPROVED' &&
        author.is_active;
      if (!ok) throw conflict(MSG.employeeNotInMsp);
      f.author = author;
    },
  },

  // ---- detail: product [infer], then quantity (spec, in its order) ----
  {
    name: 'product exists and is active',
    source: 'infer',
    async check(f) {
      const product = f.detail.product_reference;
      const type = refType(product);
      if (!product || !type || type === 'device_definition') return; // no device registry: devices are not checked
      const id = product.identifier.value;
      let ok = false;
      if (type === 'medication') {
        const m = await f.ctx.registries.get('medications', id);
        ok = !!m && m.is_active && m.type === 'INNM_DOSAGE';
        if (ok) f.medication = m;
      } else if (type === 'service') {
        ok = !!(await f.ctx.registries.get('services', id))?.is_active;
      } else if (type === 'service_group') {
        ok = !!(await f.ctx.registries.get('service_groups', id))?.is_active;
      }
      if (!ok) throw unprocessable(PRODUCT, MSG.productNotFound(PRODUCT_NAMES[type]));
    },
  },
  {
    name: 'medication_request: quantity.code is the denumerator_unit of a primary INNM of the INNM_DOSAGE',
    source: 'spec',
    async check(f) {
      if (f.detail.kind !== 'medication_request') return;
      const units = f.medication!.ingredients.filter((i) => i.is_primary).map((i) => i.dosage.denumerator_unit);
      if (!units.includes(f.detail.quantity!.code!)) throw unprocessable('$.detail.quantity.code', MSG.quantityCodeNotDenumerator);
    },
  },
  {
    name: 'other kinds: quantity.system is not present',
    source: 'spec',
    async check(f) {
      if (f.detail.kind !== 'medication_request' && f.detail.quantity?.system !== undefined) {
        throw unprocessable('$.detail.quantity.system', MSG.quantitySystemNotAllowed);
      }
    },
  },
  {
    name: 'other kinds: quantity.code is not present',
    source: 'spec',
    async check(f) {
      if (f.detail.kind !== 'medication_request' && f.detail.quantity?.code !== undefined) {
        throw unprocessable('$.detail.quantity.code', MSG.quantityCodeNotAllowed);
      }
    },
  },

  // ---- detail: medical program (spec, in its order) ----
  {
    name: 'program exists and is active',
    source: 'spec',
    async check(f) {
      const ref = f.detail.program;
      if (!ref) return;
      const program = await f.ctx.registries.get('medical_programs', ref.identifier.value);
      if (!program || !program.is_active) throw notFound(MSG.programNotFound);
      f.program = program;
    },
  },
  {
    name: 'medication: a brand of it is an active member of the program',
    source: 'spec',
    async check(f) {
      if (!f.program || refType(f.detail.product_reference) !== 'medication') return;
      if ((await programMedications(f)).length === 0) throw unprocessable(PRODUCT, MSG.medicationNotInProgram);
    },
  },
  {
    name: 'medication: care_plan_activity_allowed for the program medication',
    source: 'spec',
    async check(f) {
      if (!f.program || refType(f.detail.product_reference) !== 'medication') return;
      if (!(await programMedications(f)).some((pm) => pm.care_plan_activity_allowed === true)) {
        throw unprocessable(PRODUCT, MSG.medicationActivityForbidden);
      }
    },
  },
  {
    name: 'service: an active member of the program',
    source: 'spec',
    async check(f) {
      if (!f.program || refType(f.detail.product_reference) !== 'service') return;
      const rows = await f.ctx.registries.find('program_services', {
        medical_program_id: f.program.id,
        service_id: f.detail.product_reference!.identifier.value,
      });
      if (!rows.some((r) => r.is_active)) throw unprocessable(PRODUCT, MSG.serviceNotInProgram);
    },
  },
  {
    name: 'service group: an active member of the program',
    source: 'spec',
    async check(f) {
      if (!f.program || refType(f.detail.product_reference) !== 'service_group') return;
      const rows = await f.ctx.registries.find('program_services', {
        medical_program_id: f.program.id,
        service_group_id: f.detail.product_reference!.identifier.value,
      });
      if (!rows.some((r) => r.is_active)) throw unprocessable(PRODUCT, MSG.serviceGroupNotInProgram);
    },
  },
  {
    name: "program setting speciality_types_allowed: the author's speciality",
    source: 'spec',
    async check(f) {
      const allowed = f.program?.medical_program_settings?.speciality_types_allowed;
      if (!allowed) return;
      const speciality = f.author!.speciality?.speciality;
      if (!speciality || !allowed.includes(speciality)) throw unprocessable(PROGRAM, MSG.specialityNotAllowed);
    },
  },
  {
    name: "program settings conditions_icd10_am_allowed / conditions_icpc2_allowed: the care plan's addresses",
    source: 'spec',
    async check(f) {
      const s = f.program?.medical_program_settings;
      const icd10 = s?.conditions_icd10_am_allowed;
      const icpc2 = s?.conditions_icpc2_allowed;
      if (!icd10 && !icpc2) return;
      const addresses = f.carePlan!.addresses;
      const ok =
        (icd10 ?? []).some((c) => codes(addresses, 'eHealth/ICD10_AM/condition_codes').includes(c)) ||
        (icpc2 ?? []).some((c) => codes(addresses, 'eHealth/ICPC2/condition_codes').includes(c));
      if (!ok) throw unprocessable(PROGRAM, MSG.diagnosisNotAllowed);
    },
  },
  {
    name: "program setting providing_conditions_allowed: the care plan's terms_of_service",
    source: 'spec',
    async check(f) {
      const allowed = f.program?.medical_program_settings?.providing_conditions_allowed;
      if (!allowed) return;
      const terms = f.carePlan!.terms_of_service.coding.map((c) => c.code);
      if (!terms.some((t) => allowed.includes(t))) throw unprocessable(PROGRAM, MSG.termsOfServiceNotAllowed);
    },
  },
  {
    name: 'program setting patient_categories_allowed: a referenced clinical impression has an allowed category',
    source: 'spec',
    async check(f) {
      const allowed = f.program?.medical_program_settings?.patient_categories_allowed;
      if (!allowed) return;
      const ids = (f.detail.reason_reference ?? []).filter((r) => refType(r) === 'clinical_impression').map((r) => r.identifier.value);
      const impressions = ids.length ? await f.ctx.registries.find('clinical_impressions', { _id: { $in: ids }, patient_id: f.data.patient_id }) : [];
      const categories = impressions.flatMap((ci) => ci.code?.coding.map((c) => c.code) ?? []);
      if (!categories.some((c) => allowed.includes(c))) throw unprocessable('$.detail.reason_reference', MSG.patientCategoryMissing);
    },
  },

  // ---- detail: reason references (eHealth's Prequalify Care Plan Activity spec) and do_not_perform (spec step 12) ----
  {
    name: 'reason references exist and belong to the patient',
    source: 'conf',
    async check(f) {
      for (const [i, r] of (f.detail.reason_reference ?? []).entries()) {
        const kind = REASON[refType(r)!];
        const record = await f.ctx.registries.get(kind.registry, r.identifier.value);
        if (!record || record.patient_id !== f.data.patient_id) {
          throw unprocessable(`$.detail.reason_reference[${i}].identifier.value`, MSG.reasonNotFound(kind.name));
        }
        f.reasonRecords.set(i, record);
      }
    },
  },
  {
    name: 'do_not_perform is false',
    source: 'spec',
    async check(f) {
      if (f.detail.do_not_perform !== false) throw unprocessable('$.detail.do_not_perform', MSG.doNotPerform);
    },
  },
];

/** Runs every rule in order; the first failure throws a JobFailure. */
export async function checkActivity(facts: ActivityFacts, onRule?: (rule: ActivityRule) => void): Promise<ActivityFacts> {
  for (const rule of activityRules) {
    onRule?.(rule);
    await rule.check(facts);
  }
  return facts;
}
