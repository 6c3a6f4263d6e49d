/**
 * Care plans: creation (status new) and the status changes activities cause. Every change is a conditional update
 * (filter on the expected status), so a retried job never applies a change twice.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { Collection } from 'mongodb';
import type { AppContext } from '../http/context.js';
import type { LegalEntity } from '../registries/types.js';
import { CARE_PLAN_ACTIVITIES, CARE_PLANS } from './collections.js';
import type { ActivityDoc, CarePlanDoc, CodeableConcept, Reference } from './types.js';
import { ref } from './types.js';

export const carePlans = (ctx: AppContext): Collection<CarePlanDoc> => ctx.database.db.collection<CarePlanDoc>(CARE_PLANS);
export const activities = (ctx: AppContext): Collection<ActivityDoc> => ctx.database.db.collection<ActivityDoc>(CARE_PLAN_ACTIVITIES);

const REQUISITION_ALPHABET = '0123456789ABCEHKMPTX'; // Latin letters that read the same in Cyrillic

export function newRequisition(): string {
  const groups = [];
  for (let g = 0; g < 4; g++) {
    let s = '';
    for (let i = 0; i < 4; i++) s += REQUISITION_ALPHABET[randomInt(REQUISITION_ALPHABET.length)];
    groups.push(s);
  }
  return groups.join('-');
}

export interface CarePlanInput {
  id?: string;
  based_on?: Reference;
  part_of?: Reference;
  category: CodeableConcept;
  title: string;
  description?: string;
  period: { start: string; end?: string };
  supporting_info?: Reference[];
  note?: string;
  intent: 'order';
  encounter?: Reference;
  addresses: CodeableConcept[];
  author: Reference;
  contributor?: Reference[];
  terms_of_service: CodeableConcept;
}

export function newCarePlanDoc(input: CarePlanInput, patientId: string, legalEntity: LegalEntity, userId: string, now = new Date()): CarePlanDoc {
  const { id, ...rest } = input;
  const doc: CarePlanDoc = {
    ...rest,
    _id: id ?? randomUUID(),
    patient_id: patientId,
    status: 'new',
    status_history: [{ status: 'new', inserted_at: now, inserted_by: userId }],
    managing_organization: ref('legal_entity', legalEntity.id, legalEntity.name),
    requisition: newRequisition(),
    inserted_at: now,
    inserted_by: userId,
    updated_at: now,
    updated_by: userId,
  };
  delete (doc as { inform_with?: unknown }).inform_with;
  return doc;
}

/**
 * new → active, recorded as caused by `activityId` (idempotent: a retry finds the plan already activated by the same
 * activity). Returns true when this activity is the one that activated the plan.
 */
export async function activateCarePlan(ctx: AppContext, carePlanId: string, activityId: string, userId: string, now = new Date()): Promise<{ activated: boolean; activatedAt?: Date; terminationJobId?: string }> {
  await carePlans(ctx).updateOne(
    { _id: carePlanId, status: 'new' },
    {
      $set: { status: 'active', activated_by_activity: activityId, activated_at: now, updated_at: now, updated_by: userId },
      $push: { status_history: { status: 'active', inserted_at: now, inserted_by: userId } },
    },
  );
  const plan = await carePlans(ctx).findOne({ _id: carePlanId }, { projection: { activated_by_activity: 1, activated_at: 1, termination_job_id: 1 } });
  if (plan?.activated_by_activity === activityId) {
    return { activated: true, activatedAt: plan.activated_at, terminationJobId: plan.termination_job_id };
  }
  return { activated: false };
}

/**
 * Remembers the termination job of an activation, so a retried activity job does not enqueue it again (only a crash
 * between enqueue and this write can enqueue a second one, and running it twice changes nothing).
 */
export async function recordTerminationJob(ctx: AppContext, carePlanId: string, jobId: string): Promise<void> {
  await carePlans(ctx).updateOne({ _id: carePlanId, termination_job_id: { $exists: false } }, { $set: { termination_job_id: jobId } });
}

function conditionKeys(addresses: CodeableConcept[]): Set<string> {
  return new Set(addresses.flatMap((c) => c.coding.map((k) => `${k.system}|${k.code}`)));
}

function termsKeys(terms: CodeableConcept): Set<string> {
  return new Set(terms.coding.map((k) => `${k.system}|${k.code}`));
}

/**
 * Source spec step 4: the patient's other care plans in new/active that share a condition code (addresses) and have
 * the same terms_of_service become terminated (their activities keep their status). Only plans that existed when the
 * superseding plan was activated are considered, and nothing happens when that plan is no longer active, so running
 * this again later (a retried or duplicated job) terminates nothing new.
 */
export async function terminateSupersededCarePlans(
  ctx: AppContext,
  args: { carePlanId: string; activatedAt: Date; userId: string },
  now = new Date(),
): Promise<string[]> {
  const plan = await carePlans(ctx).findOne({ _id: args.carePlanId });
  if (!plan || plan.status !== 'active') return [];
  const codes = conditionKeys(plan.addresses);
  const terms = termsKeys(plan.terms_of_service);
  const candidates = await carePlans(ctx)
    .find({ patient_id: plan.patient_id, status: { $in: ['new', 'active'] }, _id: { $ne: plan._id } })
    .toArray();
  const terminated: string[] = [];
  for (const other of candidates) {
    if (new Date(other.inserted_at) > new Date(args.activatedAt)) continue;
    if (![...conditionKeys(other.addresses)].some((k) => codes.has(k))) continue;
    const otherTerms = termsKeys(other.terms_of_service);
    if (otherTerms.size !== terms.size || ![...otherTerms].every((k) => terms.has(k))) continue;
    const res = await carePlans(ctx).updateOne(
      { _id: other._id, status: other.status },
      {
        $set: { status: 'terminated', superseded_by: plan._id, updated_at: now, updated_by: args.userId },
        $push: { status_history: { status: 'terminated', inserted_at: now, inserted_by: args.userId } },
      },
    );
    if (res.modifiedCount === 1) terminated.push(other._id);
  }
  return terminated;
}
