/**
 * FHIR errors: `FhirError` carries an HTTP status, an OperationOutcome issue code and a diagnostics text; FHIR routes
 * answer every error as an OperationOutcome built by `operationOutcome`.
 */
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

export type IssueCode = OperationOutcomeIssue['code'];

export class FhirError extends Error {
  readonly diagnostics: string;
  constructor(
    public readonly status: number,
    public readonly code: IssueCode,
    diagnostics: string,
    /** Extra issues (e.g. one per validation error); the first issue is always built from code/diagnostics. */
    public readonly issues: OperationOutcomeIssue[] = [],
  ) {
    super(diagnostics);
    this.name = 'FhirError';
    this.diagnostics = diagnostics;
  }

  get outcome(): OperationOutcome {
    return this.issues.length > 0
      ? { resourceType: 'OperationOutcome', issue: this.issues }
      : operationOutcome(this.code, this.diagnostics, this.status < 500 ? 'error' : 'fatal');
  }
}

export function operationOutcome(
  code: IssueCode,
  diagnostics: string,
  severity: OperationOutcomeIssue['severity'] = 'error',
  expression?: string[],
): OperationOutcome {
  const issue: OperationOutcomeIssue = { severity, code, diagnostics };
  if (expression && expression.length > 0) issue.expression = expression;
  return { resourceType: 'OperationOutcome', issue: [issue] };
}

export const notFound = (type: string, id: string) => new FhirError(404, 'not-found', `Resource ${type}/${id} is not known`);
export const gone = (type: string, id: string) => new FhirError(410, 'deleted', `Resource ${type}/${id} has been deleted`);
export const badRequest = (diagnostics: string) => new FhirError(400, 'invalid', diagnostics);
export const notSupported = (diagnostics: string) => new FhirError(400, 'not-supported', diagnostics);
export const preconditionFailed = (diagnostics: string) => new FhirError(412, 'conflict', diagnostics);
export const conflict = (diagnostics: string) => new FhirError(409, 'duplicate', diagnostics);
export const tooCostly = (diagnostics: string) => new FhirError(400, 'too-costly', diagnostics);

/** The HTTP status a FHIR repository error carries (FhirError.status), or undefined for other errors. */
export function fhirStatus(err: unknown): number | undefined {
  const s = (err as { status?: unknown })?.status;
  return typeof s === 'number' ? s : undefined;
}
