/**
 * Who the token's user is in the registries and what they may do (the synchronous checks of eHealth's "Create Care
 * Plan Activity" spec): legal entity status/type, party verification, the user's employees, approvals on care plans.
 */
import type { CarePlanDeps } from './deps.js';
import type { Approval, Employee, LegalEntity, Party } from '../registries/types.js';
import { MSG } from './messages.js';

export interface Refusal {
  status: number;
  type: string;
  message: string;
}

const refuse = (status: number, type: string, message: string): Refusal => ({ status, type, message });

export async function partyOfUser(ctx: CarePlanDeps, userId: string): Promise<Party | undefined> {
  const [party] = await ctx.registries.find('parties', { users: userId }, 1);
  return party;
}

/** The user's active, approved employees in a legal entity. */
export async function activeEmployees(ctx: CarePlanDeps, party: Party | undefined, legalEntityId: string): Promise<Employee[]> {
  if (!party) return [];
  const rows = await ctx.registries.find('employees', { party_id: party.id, legal_entity_id: legalEntityId });
  return rows.filter((e) => e.status === 'APPROVED' && e.is_active);
}

/** BLOCK_UNVERIFIED_PARTY_USERS (eHealth spec): a NOT_VERIFIED party may act for UNVERIFIED_PARTY_PERIOD_DAYS_ALLOWED days. */
export function checkPartyVerified(ctx: CarePlanDeps, party: Party | undefined, now = new Date()): Refusal | undefined {
  const cfg = ctx.config.carePlans;
  if (!cfg.blockUnverifiedPartyUsers || !party || party.verification_status !== 'NOT_VERIFIED') return undefined;
  const since = new Date(party.verification_updated_at ?? (party as { updated_at?: Date }).updated_at ?? 0);
  const limit = new Date(now.getTime() - cfg.unverifiedPartyPeriodDaysAllowed * 86_400_000);
  return since <= limit ? refuse(403, 'forbidden', MSG.partyNotVerified) : undefined;
}

/** eHealth spec: the token's legal entity is ACTIVE and of a type allowed to create medical events. */
export async function checkLegalEntity(ctx: CarePlanDeps, clientId: string | undefined): Promise<{ refusal?: Refusal; legalEntity?: LegalEntity }> {
  const le = clientId ? await ctx.registries.get('legal_entities', clientId) : undefined;
  if (!le || le.status !== 'ACTIVE') return { refusal: refuse(409, 'request_conflict', MSG.legalEntityNotActive) };
  if (!ctx.config.carePlans.allowedLegalEntityTypes.includes(le.type)) {
    return { refusal: refuse(409, 'request_conflict', MSG.legalEntityTypeNotAllowed) };
  }
  return { legalEntity: le };
}

function approvalGrants(a: Approval, carePlanId: string, levels: string[], now: Date): boolean {
  return (
    a.status === 'active' &&
    levels.includes(a.access_level) &&
    (!a.expires_at || new Date(a.expires_at) > now) &&
    a.granted_resources.some((r) => r.resource_type === 'care_plan' && r.id === carePlanId)
  );
}

/** An active approval of the patient for one of `employees` on the care plan (write, or read/write for reading). */
export async function hasApproval(
  ctx: CarePlanDeps,
  patientId: string,
  carePlanId: string,
  employees: Employee[],
  access: 'read' | 'write',
  now = new Date(),
): Promise<boolean> {
  if (employees.length === 0) return false;
  const approvals = await ctx.registries.find('approvals', { patient_id: patientId, granted_to: { $in: employees.map((e) => e.id) } });
  const levels = access === 'write' ? ['write'] : ['read', 'write'];
  return approvals.some((a) => approvalGrants(a, carePlanId, levels, now));
}
