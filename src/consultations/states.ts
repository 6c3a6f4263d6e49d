/**
 * The consultation lifecycle (server-enforced):
 *
 *   ready_for_pickup ──pick / assign──▶ pending_sp ──start──▶ in_progress ──finish──▶ completed
 *          │                             │  ▲ assign (re-assign)  │
 *          └──────────── cancel ─────────┴────────────────────────┴──▶ cancelled
 *
 * Every transition is one conditional update on the expected state (see service.ts), so two concurrent requests can
 * never both apply: the loser sees the new state and gets 409 with a message naming it.
 */
export const CONSULTATION_STATES = ['ready_for_pickup', 'pending_sp', 'in_progress', 'completed', 'cancelled'] as const;
export type ConsultationState = (typeof CONSULTATION_STATES)[number];

type EncounterStatus = 'planned' | 'arrived' | 'in-progress' | 'finished' | 'cancelled';

/** FHIR Encounter.status for each consultation state. */
export const ENCOUNTER_STATUS: Record<ConsultationState, EncounterStatus> = {
  ready_for_pickup: 'planned',
  pending_sp: 'arrived',
  in_progress: 'in-progress',
  completed: 'finished',
  cancelled: 'cancelled',
};

export type ConsultationAction = 'create' | 'pick' | 'assign' | 'start' | 'finish' | 'cancel';

export const TRANSITIONS: Record<Exclude<ConsultationAction, 'create'>, { from: ConsultationState[]; to: ConsultationState }> = {
  pick: { from: ['ready_for_pickup'], to: 'pending_sp' },
  assign: { from: ['ready_for_pickup', 'pending_sp'], to: 'pending_sp' },
  start: { from: ['pending_sp'], to: 'in_progress' },
  finish: { from: ['in_progress'], to: 'completed' },
  cancel: { from: ['ready_for_pickup', 'pending_sp', 'in_progress'], to: 'cancelled' },
};

/** Outcomes a practitioner may record when finishing. */
export const OUTCOMES = ['referred_gp', 'helped', 'unable', 'referred_specialist'] as const;
export type Outcome = (typeof OUTCOMES)[number];

const STATE_HINT: Record<ConsultationState, string> = {
  ready_for_pickup: 'it is waiting in the queue and has no practitioner yet',
  pending_sp: 'it is already assigned to a practitioner',
  in_progress: 'it has already started',
  completed: 'it is already completed',
  cancelled: 'it has been cancelled',
};

/** The 409 message for an action that is not allowed in the current state. */
export function illegalTransitionMessage(action: keyof typeof TRANSITIONS, id: string, current: ConsultationState): string {
  const allowed = TRANSITIONS[action].from.join(' or ');
  return `Cannot ${action} consultation ${id}: its state is ${current} (${STATE_HINT[current]}); ${action} is allowed only from ${allowed}`;
}

export function isConsultationState(v: string): v is ConsultationState {
  return (CONSULTATION_STATES as readonly string[]).includes(v);
}
