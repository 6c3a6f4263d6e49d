/**
 * The synchronous part of POST /api/patients/{patient_id}/care_plans/{care_plan_id}/activities, in the order of
 * eHealth's "Create Care Plan Activity" spec (the token and scope checks run before, in the auth middleware). The first
 * failing check answers; when all pass the request becomes a job.
 */
import type { CarePlanDeps } from './deps.js';
import type { Employee, Party, Patient } from '../registries/types.js';
import { activeEmployees, checkLegalEntity, checkPartyVerified, hasApproval, partyOfUser, type Refusal } from './access.js';
import { carePlans } from './care-plans.js';
import { MSG } from './messages.js';
import { FINAL_CARE_PLAN_STATUSES, type CarePlanDoc } from './types.js';

export interface RequestFacts {
  ctx: CarePlanDeps;
  userId: string;
  clientId: string | undefined;
  patientId: string;
  carePlanId: string;
  patient?: Patient;
  party?: Party;
  employees?: Employee[];
  carePlan?: CarePlanDoc;
}

export interface RequestCheck {
  name: string;
  check(f: RequestFacts): Promise<Refusal | undefined>;
}

const refuse = (status: number, type: string, message: string): Refusal => ({ status, type, message });

/** Today (UTC) as YYYY-MM-DD. */
const today = () => new Date().toISOString().slice(0, 10);

export const activityRequestChecks: RequestCheck[] = [
  {
    name: 'patient exists (404)',
    async check(f) {
      f.patient = await f.ctx.registries.get('patients', f.patientId);
      return f.patient ? undefined : refuse(404, 'not_found', MSG.patientNotFound);
    },
  },
  {
    name: "user's party is verified (BLOCK_UNVERIFIED_PARTY_USERS)",
    async check(f) {
      f.party = await partyOfUser(f.ctx, f.userId);
      return checkPartyVerified(f.ctx, f.party);
    },
  },
  {
    name: 'legal entity of client_id is active and of an allowed type (409)',
    async check(f) {
      return (await checkLegalEntity(f.ctx, f.clientId)).refusal;
    },
  },
  {
    name: 'care plan belongs to the patient (422)',
    async check(f) {
      const plan = await carePlans(f.ctx).findOne({ _id: f.carePlanId, patient_id: f.patientId });
      if (!plan) return refuse(422, 'validation_failed', MSG.carePlanNotFound);
      // Another legal entity's plan exists for this request only when one of the user's employees holds an approval
      // on it; otherwise the answer is the one for a plan that does not exist (its existence is not revealed).
      if (plan.managing_organization.identifier.value !== f.clientId) {
        const employees = await activeEmployees(f.ctx, f.party, f.clientId!);
        if (!(await hasApproval(f.ctx, f.patientId, f.carePlanId, employees, 'read'))) return refuse(422, 'validation_failed', MSG.carePlanNotFound);
      }
      f.carePlan = plan;
      return undefined;
    },
  },
  {
    name: 'care plan is not in a final status (422)',
    async check(f) {
      return FINAL_CARE_PLAN_STATUSES.includes(f.carePlan!.status) ? refuse(422, 'validation_failed', MSG.invalidCarePlanStatus) : undefined;
    },
  },
  {
    name: 'care plan period has not ended (422)',
    async check(f) {
      const end = f.carePlan!.period.end;
      return end && end.slice(0, 10) < today() ? refuse(422, 'validation_failed', MSG.carePlanExpired) : undefined;
    },
  },
  {
    name: 'patient is active (409)',
    async check(f) {
      return f.patient?.status === 'active' ? undefined : refuse(409, 'request_conflict', MSG.personNotActive);
    },
  },
  {
    name: "user's employee in the legal entity has an active write approval on the care plan (403)",
    async check(f) {
      f.employees = await activeEmployees(f.ctx, f.party, f.clientId!);
      const ok = await hasApproval(f.ctx, f.patientId, f.carePlanId, f.employees, 'write');
      return ok ? undefined : refuse(403, 'forbidden', MSG.accessDenied);
    },
  },
  {
    name: "the employee's legal entity manages the care plan (422)",
    async check(f) {
      return f.carePlan!.managing_organization.identifier.value === f.clientId ? undefined : refuse(422, 'validation_failed', MSG.otherLegalEntity);
    },
  },
];

export async function runRequestChecks(f: RequestFacts): Promise<Refusal | undefined> {
  for (const c of activityRequestChecks) {
    const refusal = await c.check(f);
    if (refusal) return refusal;
  }
  return undefined;
}
