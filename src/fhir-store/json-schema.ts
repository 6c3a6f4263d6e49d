/**
 * The HL7 FHIR R4 (4.0.1) JSON schema (schemas/fhir/fhir.schema.json, draft-06) compiled with ajv: it checks what
 * @medplum/core's validateResource lets through, chiefly the primitive formats (a dateTime or instant with a time but
 * no zone, a malformed id, code or uri), unknown properties and empty strings. Each resource type's definition is
 * compiled on first use: about 2 s for the first (it compiles the shared data types too), little for the next; then
 * about 3 µs per resource (docs/conformance.md).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { projectPath } from '../platform/paths.js';

const require = createRequire(import.meta.url);
export const FHIR_SCHEMA_FILE = projectPath('schemas', 'fhir', 'fhir.schema.json');
const SCHEMA_ID = 'http://hl7.org/fhir/json-schema/4.0';

export interface SchemaIssue {
  /** JSON pointer of the offending value inside the resource ('' for the resource itself). */
  path: string;
  message: string;
}

let ajv: Ajv | undefined;
let resourceTypes: Set<string> | undefined;
const validators = new Map<string, ValidateFunction>();

function load(): Ajv {
  if (ajv) return ajv;
  const schema = JSON.parse(fs.readFileSync(FHIR_SCHEMA_FILE, 'utf8')) as Record<string, unknown> & {
    definitions: Record<string, unknown>;
    discriminator: { mapping: Record<string, string> };
  };
  // The schema names itself with draft-04's `id`; ajv 8 reads `$id`. Its `discriminator` is OpenAPI's, not ajv's.
  const { id: _id, discriminator, ...rest } = schema;
  resourceTypes = new Set(Object.keys(discriminator.mapping));
  const a = new Ajv({ strict: false, allErrors: false, validateSchema: false, unicodeRegExp: true });
  a.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as object);
  a.addSchema({ ...rest, $id: SCHEMA_ID });
  ajv = a;
  return a;
}

function validatorFor(resourceType: string): ValidateFunction | undefined {
  const a = load();
  if (!resourceTypes!.has(resourceType)) return undefined;
  let v = validators.get(resourceType);
  if (!v) {
    v = a.getSchema(`${SCHEMA_ID}#/definitions/${resourceType}`)!;
    validators.set(resourceType, v);
  }
  return v;
}

function describe(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return `unknown property '${(e.params as { additionalProperty: string }).additionalProperty}'`;
  if (e.keyword === 'pattern') return `does not match the FHIR format ${(e.params as { pattern: string }).pattern}`;
  return e.message ?? e.keyword;
}

/**
 * Schema issues of a resource (the first one found; empty when valid). An unknown resourceType is an issue.
 * Ajv stops at the first error (allErrors: false): the check is a gate, and one precise error is what a caller shows.
 */
export function schemaIssues(resource: unknown): SchemaIssue[] {
  const type = (resource as { resourceType?: unknown } | null)?.resourceType;
  if (typeof type !== 'string') return [{ path: '', message: 'no resourceType' }];
  const v = validatorFor(type);
  if (!v) return [{ path: '/resourceType', message: `unknown resource type '${type}'` }];
  if (!v(resource)) return (v.errors ?? []).map((e) => ({ path: e.instancePath, message: describe(e) }));
  const empty = emptyValue(resource, '');
  return empty ? [empty] : [];
}

/**
 * The rules of FHIR's JSON format that its schema cannot say: no empty array, no empty object. (Nulls are refused
 * by the schema itself, also where FHIR JSON would let one keep a primitive's place beside its `_name` twin: the
 * engine writes none.)
 */
function emptyValue(value: unknown, path: string): SchemaIssue | undefined {
  if (Array.isArray(value)) {
    if (value.length === 0) return { path, message: 'empty array (FHIR JSON leaves the property out)' };
    for (let i = 0; i < value.length; i++) {
      const issue = emptyValue(value[i], `${path}/${i}`);
      if (issue) return issue;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 0) return { path, message: 'empty object (FHIR JSON leaves the property out)' };
    for (const k of keys) {
      const issue = emptyValue(o[k], `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
      if (issue) return issue;
    }
  }
  return undefined;
}
