/**
 * Termination of superseded care plans (source spec step 4), enqueued by the activity job when it activates a plan.
 * Idempotent: see terminateSupersededCarePlans. The job's response lists the terminated plans.
 */
import type { CarePlanDeps } from './deps.js';
import type { JobDefinition } from '../jobs/types.js';
import { terminateSupersededCarePlans } from './care-plans.js';
import { syncFhirCarePlan } from './fhir.js';

export const TERMINATE_SUPERSEDED_JOB = 'care_plan.terminate_superseded';

interface TerminateSupersededData {
  care_plan_id: string;
  activated_at: string;
  user_id: string;
}

export const terminateSupersededJob: JobDefinition<TerminateSupersededData> = {
  name: TERMINATE_SUPERSEDED_JOB,
  description: "Terminate the patient's other new/active care plans with a common condition code and the same terms of service",
  options: { concurrency: 4, maxAttempts: 5, backoffMs: 1000 },
  create(ctx: CarePlanDeps) {
    return async (data) => {
      const superseded = await terminateSupersededCarePlans(ctx, {
        carePlanId: data.care_plan_id,
        activatedAt: new Date(data.activated_at),
        userId: data.user_id,
      });
      // Also plans terminated by an earlier, interrupted run of this job get their FHIR mirror updated.
      for (const id of superseded) await syncFhirCarePlan(ctx, id);
      return {
        status_code: 200,
        response_data: { care_plan_id: data.care_plan_id, terminated_care_plans: superseded },
      };
    };
  },
};
