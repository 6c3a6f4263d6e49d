/**
 * Care plans: creation (status new) and the status changes activities cause (insert-only status change documents,
 * see below), so a retried or duplicated job never applies a change twice.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { Collection } from 'mongodb';
import type { CarePlanDeps } from './deps.js';
import type { LegalEntity } from '../registries/types.js';
import { CARE_PLAN_ACTIVITIES, CARE_PLAN_STATUS_CHANGES, CARE_PLANS } from './collections.js';
import type { ActivityDoc, CarePlanDoc, CarePlanStatus, CodeableConcept, Reference } from './types.js';
import { ref } from './types.js';
import { isDuplicateKey } from '../platform/db/mongo.js';

export const carePlans = (ctx: CarePlanDeps): Collection<CarePlanDoc> => ctx.database.db.collection<CarePlanDoc>(CARE_PLANS);
export const activities = (ctx: CarePlanDeps): Collection<ActivityDoc> => ctx.database.db.collection<ActivityDoc>(CARE_PLAN_ACTIVITIES);

const REQUISITION_ALPHABET = '0123456789ABCEHKMPTX'; // Latin letters that read the same in Cyrillic

function newRequisition(): string {
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
 * Status changes are insert-only documents in `care_plan_status_changes` with a deterministic _id — `<plan>/active`
 * (the first activity activates the plan) and `<plan>/final` (completed / cancelled / terminated: one final status
 * per plan) — because a unique insert is the one write FerretDB 1.24 makes atomic (its conditional updates and
 * findOneAndUpdate are not: two writers can both "win"). The care plan document's status, status_history and
 * activation fields are derived from them by `materialiseStatus`, which writes until what it wrote is what it reads
 * back, so concurrent writers converge on the full history.
 */
interface StatusChangeDoc {
  _id: string;
  care_plan_id: string;
  status: CarePlanStatus;
  status_reason?: CodeableConcept;
  /** active: the activity whose creation activated the plan. */
  activity_id?: string;
  /** terminated: the plan that superseded this one. */
  superseded_by?: string;
  inserted_at: Date;
  inserted_by: string;
}

const statusChanges = (ctx: CarePlanDeps): Collection<StatusChangeDoc> => ctx.database.db.collection<StatusChangeDoc>(CARE_PLAN_STATUS_CHANGES);


/** Inserts a status change unless one with that _id exists; answers the stored one either way. */
async function insertChange(ctx: CarePlanDeps, change: StatusChangeDoc): Promise<{ change: StatusChangeDoc; inserted: boolean }> {
  try {
    await statusChanges(ctx).insertOne(change);
    return { change, inserted: true };
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const existing = await statusChanges(ctx).findOne({ _id: change._id });
    if (!existing) throw err;
    return { change: existing, inserted: false };
  }
}

function derive(plan: CarePlanDoc, changes: StatusChangeDoc[]): Partial<CarePlanDoc> {
  const active = changes.find((c) => c._id === `${plan._id}/active`);
  const final = changes.find((c) => c._id === `${plan._id}/final`);
  const ordered = [...changes].sort((a, b) => new Date(a.inserted_at).getTime() - new Date(b.inserted_at).getTime() || a._id.localeCompare(b._id));
  const last = ordered[ordered.length - 1];
  return {
    status: final?.status ?? (active ? 'active' : 'new'),
    status_history: [
      { status: 'new', inserted_at: plan.inserted_at, inserted_by: plan.inserted_by },
      ...ordered.map((c) => ({ status: c.status, ...(c.status_reason ? { status_reason: c.status_reason } : {}), inserted_at: c.inserted_at, inserted_by: c.inserted_by })),
    ],
    ...(active ? { activated_by_activity: active.activity_id, activated_at: active.inserted_at } : {}),
    ...(final?.superseded_by ? { superseded_by: final.superseded_by } : {}),
    ...(final?.status_reason ? { status_reason: final.status_reason } : {}),
    ...(last ? { updated_at: last.inserted_at, updated_by: last.inserted_by } : {}),
  };
}

/** Brings the care plan document in line with its status changes (idempotent; converges under concurrency). */
export async function materialiseStatus(ctx: CarePlanDeps, carePlanId: string, readChanges?: StatusChangeDoc[]): Promise<CarePlanDoc | undefined> {
  for (let i = 0; i < 20; i++) {
    // `readChanges`: the caller has just read the plan's changes (and inserted none since): no second read.
    const changes = i === 0 && readChanges ? readChanges : await statusChanges(ctx).find({ care_plan_id: carePlanId }).toArray();
    const key = changes.map((c) => c._id).sort().join(',');
    const plan = await carePlans(ctx).findOne({ _id: carePlanId });
    if (!plan) return undefined;
    // Already derived from these changes: nothing to write, so nothing to verify. (A change inserted meanwhile is
    // materialised by its inserter, and a writer whose derivation is older than the changes re-checks its own write.)
    if ((plan.status_changes_key ?? '') === key) return plan;
    await carePlans(ctx).updateOne({ _id: carePlanId }, { $set: { ...derive(plan, changes), status_changes_key: key } });
    const after = (await statusChanges(ctx).find({ care_plan_id: carePlanId }, { projection: { _id: 1 } }).toArray()).map((c) => c._id).sort().join(',');
    const stored = await carePlans(ctx).findOne({ _id: carePlanId });
    if (after === key && stored?.status_changes_key === key) return stored;
  }
  throw new Error('Care plan status kept changing concurrently');
}

/**
 * The first activity activates a new plan (source spec step 4). Idempotent: the activation is one insert-only
 * document; a retry (or a concurrent duplicate run) finds it. Answers the activation, whoever made it.
 */
export async function activateCarePlan(
  ctx: CarePlanDeps,
  carePlanId: string,
  activityId: string,
  userId: string,
  now = new Date(),
): Promise<{ activatedBy?: string; activatedAt?: Date; plan?: CarePlanDoc }> {
  // One read of the plan's changes: its activation and final status, and what materialiseStatus derives from.
  let changes: StatusChangeDoc[] | undefined = await statusChanges(ctx).find({ care_plan_id: carePlanId }).toArray();
  const final = changes.find((c) => c._id === `${carePlanId}/final`);
  let activation = changes.find((c) => c._id === `${carePlanId}/active`);
  if (!activation && !final) {
    changes = undefined; // changed by us (or a racing activation): materialiseStatus reads them again
    ({ change: activation } = await insertChange(ctx, {
      _id: `${carePlanId}/active`,
      care_plan_id: carePlanId,
      status: 'active',
      activity_id: activityId,
      inserted_at: now,
      inserted_by: userId,
    }));
  }
  const plan = await materialiseStatus(ctx, carePlanId, changes);
  return activation ? { activatedBy: activation.activity_id, activatedAt: activation.inserted_at, plan } : { plan };
}

/** The termination job of an activation, recorded once (insert-only) so that retries do not enqueue it again. */
export async function terminationJobOf(ctx: CarePlanDeps, carePlanId: string): Promise<string | undefined> {
  const doc = await ctx.database.db.collection<{ _id: string; job_id: string }>(CARE_PLAN_STATUS_CHANGES).findOne({ _id: `${carePlanId}/termination-job` } as never);
  return (doc as { job_id?: string } | null)?.job_id;
}

export async function recordTerminationJob(ctx: CarePlanDeps, carePlanId: string, jobId: string): Promise<void> {
  try {
    await ctx.database.db.collection(CARE_PLAN_STATUS_CHANGES).insertOne({ _id: `${carePlanId}/termination-job`, job_id: jobId } as never);
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
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
 * this again later (a retried or duplicated job) terminates nothing new. Answers every plan this plan superseded.
 */
export async function terminateSupersededCarePlans(
  ctx: CarePlanDeps,
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
  for (const other of candidates) {
    if (new Date(other.inserted_at) > new Date(args.activatedAt)) continue;
    if (![...conditionKeys(other.addresses)].some((k) => codes.has(k))) continue;
    const otherTerms = termsKeys(other.terms_of_service);
    if (otherTerms.size !== terms.size || ![...otherTerms].every((k) => terms.has(k))) continue;
    await insertChange(ctx, {
      _id: `${other._id}/final`,
      care_plan_id: other._id,
      status: 'terminated',
      superseded_by: plan._id,
      inserted_at: now,
      inserted_by: args.userId,
    });
    await materialiseStatus(ctx, other._id);
  }
  const superseded = await statusChanges(ctx).find({ superseded_by: plan._id }).toArray();
  return superseded.map((c) => c.care_plan_id).sort();
}
