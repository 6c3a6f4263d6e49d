/**
 * Test hook: CARE_PLAN_ACTIVITY_FAULT="<step>:<exit|throw>" makes the create-activity job stop right after a
 * processing step — `exit` ends the process at once (a killed worker), `throw` fails the first attempt (a crash the
 * job runner retries). Steps: signed_content_saved, activity_stored, care_plan_activated, fhir_written.
 * Never set it in production.
 */
export const PROCESSING_STEPS = ['signed_content_saved', 'activity_stored', 'care_plan_activated', 'fhir_written'] as const;
type ProcessingStep = (typeof PROCESSING_STEPS)[number];

export interface FaultInjection {
  step: ProcessingStep;
  mode: 'exit' | 'throw';
}

class InjectedFault extends Error {
  constructor(step: string) {
    super(`Injected fault after ${step}`);
    this.name = 'InjectedFault';
  }
}

export function maybeFault(fault: FaultInjection | undefined, step: ProcessingStep, attempt: number): void {
  if (!fault || fault.step !== step) return;
  if (fault.mode === 'exit') {
    process.stderr.write(`[fault injection] exiting after ${step}\n`);
    process.exit(137);
  }
  if (attempt === 1) throw new InjectedFault(step);
}
