/**
 * The "create care plan activity" job: the ordered checks of activity-rules.ts, then the processing steps of the
 * source spec. No multi-document transactions: every step is idempotent, so a run that dies between steps is simply
 * run again by the job runner and finishes without duplicates:
 *   1. signed original → media storage under `<activity id>/create` (content-addressed; same bytes, same answer)
 *   2. the activity → care_plan_activities with _id = activity id and job_id (a retry recognises its own insert)
 *   3. care plan new → active (insert-only status change) and the termination job enqueued once (recorded)
 *   4. FHIR: the CarePlan mirror brought up to date, the Provenance created with a deterministic id
 * The job ends processed (303 on GET /api/jobs/:id) with the link to the activity.
 */
import { createHash } from 'node:crypto';
import type { CarePlanDeps } from './deps.js';
import { log } from '../platform/logging/logger.js';
import type { JobDefinition, JobOutcome } from '../jobs/types.js';
import { ActivityFacts, checkActivity } from './activity-rules.js';
import { activateCarePlan, activities, recordTerminationJob, terminationJobOf } from './care-plans.js';
import { internal, unprocessable } from './failures.js';
import { maybeFault, type FaultInjection } from './fault-injection.js';
import { ensureProvenance, syncFhirCarePlan } from './fhir.js';
import { MSG } from './messages.js';
import { TERMINATE_SUPERSEDED_JOB } from './termination-job.js';
import type { ActivityDoc, ActivityDetail, CreateActivityJobData, QuantityValue } from './types.js';
import { isDuplicateKey } from '../platform/db/mongo.js';

export const CREATE_ACTIVITY_JOB = 'care_plan_activity.create';
export const MAX_ATTEMPTS = 5;

export const activityHref = (patientId: string, carePlanId: string, id: string) =>
  `/api/patients/${encodeURIComponent(patientId)}/care_plans/${encodeURIComponent(carePlanId)}/activities/${encodeURIComponent(id)}`;

export const mediaKeyOf = (activityId: string) => `${activityId}/create`;

async function withUnit(ctx: CarePlanDeps, q: QuantityValue | undefined): Promise<QuantityValue | undefined> {
  if (!q) return undefined;
  const out: QuantityValue = { ...q };
  if (q.system === 'MEDICATION_UNIT' && q.code) {
    const unit = await ctx.dictionaries.getDisplay('MEDICATION_UNIT', q.code, ['uk']);
    if (unit) out.unit = unit;
    else delete out.unit;
  }
  return out;
}

async function buildActivity(f: ActivityFacts, sha256: string, now: Date): Promise<ActivityDoc> {
  const { ctx, data } = f;
  const c = f.content!;
  const quantity = await withUnit(ctx, c.detail.quantity);
  const detail: ActivityDetail = {
    ...c.detail,
    status: 'scheduled',
    ...(quantity ? { quantity, remaining_quantity: { ...quantity }, remaining_quantity_type: 'for_request' } : {}),
  } as ActivityDetail;
  const daily = await withUnit(ctx, c.detail.daily_amount);
  if (daily) detail.daily_amount = daily;
  return {
    _id: c.id,
    patient_id: data.patient_id,
    care_plan_id: data.care_plan_id,
    author: c.author,
    care_plan: c.care_plan,
    detail,
    status_history: [{ status: 'scheduled', inserted_at: now, inserted_by: data.user_id }],
    signed_content_links: [mediaKeyOf(c.id)],
    signed_content_sha256: sha256,
    job_id: f.jobId,
    legal_entity_id: data.client_id,
    inserted_at: now,
    inserted_by: data.user_id,
    updated_at: now,
    updated_by: data.user_id,
  };
}

export const createActivityJob: JobDefinition<CreateActivityJobData> = {
  name: CREATE_ACTIVITY_JOB,
  description: 'Create a care plan activity from signed content (verify CMS, check the rules, store, activate the care plan)',
  options: { concurrency: 8, maxAttempts: MAX_ATTEMPTS, backoffMs: 500, runAtOnce: true },
  create(ctx: CarePlanDeps) {
    return async (data, job): Promise<JobOutcome> => {
      const fault = ctx.config.carePlans.fault as FaultInjection | undefined;
      const facts = await checkActivity(new ActivityFacts(ctx, data, job.id));
      const activityId = facts.content!.id;
      const now = new Date();

      // 1. signed original
      const key = mediaKeyOf(activityId);
      let stored;
      try {
        stored = await ctx.media.put(key, facts.der!, 'application/pkcs7-mime');
      } catch (err) {
        log().error({ err: { message: (err as Error).message }, attempt: job.attempt }, 'saving signed content failed');
        if (job.attempt >= MAX_ATTEMPTS) throw internal(MSG.failedToSaveSignedContent);
        throw err;
      }
      maybeFault(fault, 'signed_content_saved', job.attempt);

      // 2. the activity
      if (!facts.ownActivity) {
        const doc = await buildActivity(facts, stored.sha256, now);
        try {
          await activities(ctx).insertOne(doc);
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          const existing = await activities(ctx).findOne({ _id: activityId }, { projection: { job_id: 1 } });
          if (existing?.job_id !== job.id) throw unprocessable('$.id', MSG.activityExists);
        }
      }
      maybeFault(fault, 'activity_stored', job.attempt);

      // 3. care plan new → active; superseded plans are terminated by their own job
      const activation = await activateCarePlan(ctx, data.care_plan_id, activityId, data.user_id, now);
      if (activation.activatedBy === activityId && !(await terminationJobOf(ctx, data.care_plan_id))) {
        const { id } = await ctx.jobs.enqueue(
          TERMINATE_SUPERSEDED_JOB,
          { care_plan_id: data.care_plan_id, activated_at: activation.activatedAt!.toISOString(), user_id: data.user_id },
          { hash: createHash('sha256').update(`${data.care_plan_id}\u0000${activityId}`).digest('base64url'), owner: { userId: data.user_id, clientId: data.client_id } },
        );
        await recordTerminationJob(ctx, data.care_plan_id, id);
      }
      maybeFault(fault, 'care_plan_activated', job.attempt);

      // 4. FHIR mirror and Provenance
      await syncFhirCarePlan(ctx, data.care_plan_id, activation.plan);
      const v = facts.verdict!;
      await ensureProvenance(ctx, activation.plan ?? facts.carePlan!, {
        activityId,
        carePlanId: data.care_plan_id,
        patientId: data.patient_id,
        authorEmployeeId: facts.author!.id,
        legalEntityId: data.client_id,
        mediaKey: key,
        sha256: stored.sha256,
        der: facts.der!,
        signingTime: v.signingTime,
        signer: v.signer,
        recorded: now,
      });
      maybeFault(fault, 'fhir_written', job.attempt);

      return { status_code: 200, links: [{ entity: 'care_plan_activity', href: activityHref(data.patient_id, data.care_plan_id, activityId) }] };
    };
  },
};
