/**
 * Validation errors in the shape of the eHealth API's 422 answers: `{type: "validation_failed", message, invalid:
 * [{entry_type: "json_data_property", entry: "$.a.b", rules: [{rule, params, description}]}]}`.
 *
 * Ajv errors are mapped to the rule names and descriptions the eHealth services produce with their JSON-schema
 * validator (required, cast, inclusion, length, number, format, schema, schemata); business rules use rule
 * "invalid" with the rule's message as description.
 */
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/** Points at this engine's own documentation of the error body and its rules. */
export const VALIDATION_FAILED_MESSAGE = 'Validation failed: every problem is listed in "invalid"; the rules are described in docs/errors.md.';

export interface InvalidRule {
  rule: string;
  params: unknown;
  description: string;
}

export interface InvalidEntry {
  entry_type: string;
  entry: string;
  rules: InvalidRule[];
}

export interface ValidationFailedBody {
  type: 'validation_failed';
  message: string;
  invalid: InvalidEntry[];
}

export function validationFailed(invalid: InvalidEntry[]): ValidationFailedBody {
  return { type: 'validation_failed', message: VALIDATION_FAILED_MESSAGE, invalid };
}

/** One business-rule failure at a JSON path (rule "invalid"). */
export function invalidAt(entry: string, description: string, rule = 'invalid', params: unknown = []): ValidationFailedBody {
  return validationFailed([{ entry_type: 'json_data_property', entry, rules: [{ rule, params, description }] }]);
}

const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

export function createAjv(opts: Options = {}): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, ...opts });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

/** `/detail/reason_reference/0/identifier` → `$.detail.reason_reference[0].identifier`. */
export function jsonPath(instancePath: string, extra?: string): string {
  let out = '$';
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`;
  }
  if (extra !== undefined) out += /^\d+$/.test(extra) ? `[${extra}]` : `.${extra}`;
  return out;
}

function typeName(v: unknown): string {
  if (v === null) return 'Null';
  if (Array.isArray(v)) return 'List';
  switch (typeof v) {
    case 'string':
      return 'String';
    case 'number':
      return Number.isInteger(v) ? 'Integer' : 'Number';
    case 'boolean':
      return 'Boolean';
    case 'object':
      return 'Object';
    default:
      return 'Unknown';
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: 'String',
  integer: 'Integer',
  number: 'Number',
  boolean: 'Boolean',
  object: 'Object',
  array: 'List',
  null: 'Null',
};

function valueAt(data: unknown, instancePath: string): unknown {
  let cur: unknown = data;
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

function mapError(err: ErrorObject, data: unknown): { entry: string; rule: InvalidRule } | undefined {
  const p = err.params as Record<string, unknown>;
  const value = valueAt(data, err.instancePath);
  switch (err.keyword) {
    case 'required':
      return {
        entry: jsonPath(err.instancePath, String(p.missingProperty)),
        rule: { rule: 'required', params: [], description: `required property ${String(p.missingProperty)} was not present` },
      };
    case 'additionalProperties':
      return {
        entry: jsonPath(err.instancePath, String(p.additionalProperty)),
        rule: { rule: 'schema', params: [], description: 'schema does not allow additional properties' },
      };
    case 'type': {
      const expected = String(p.type).split(',').map((t) => TYPE_NAMES[t] ?? t);
      return {
        entry: jsonPath(err.instancePath),
        rule: { rule: 'cast', params: expected, description: `type mismatch. Expected ${expected.join(', ')} but got ${typeName(value)}` },
      };
    }
    case 'enum':
    case 'const':
      return {
        entry: jsonPath(err.instancePath),
        rule: {
          rule: 'inclusion',
          params: err.keyword === 'enum' ? (p.allowedValues as unknown[]) : [p.allowedValue],
          description: 'value is not allowed in enum',
        },
      };
    case 'minLength':
      return {
        entry: jsonPath(err.instancePath),
        rule: {
          rule: 'length',
          params: { min: p.limit },
          description: `expected value to have a minimum length of ${String(p.limit)} but was ${typeof value === 'string' ? [...value].length : 0}`,
        },
      };
    case 'maxLength':
      return {
        entry: jsonPath(err.instancePath),
        rule: {
          rule: 'length',
          params: { max: p.limit },
          description: `expected value to have a maximum length of ${String(p.limit)} but was ${typeof value === 'string' ? [...value].length : 0}`,
        },
      };
    case 'minItems':
      return {
        entry: jsonPath(err.instancePath),
        rule: {
          rule: 'length',
          params: { min: p.limit },
          description: `expected a minimum of ${String(p.limit)} items but got ${Array.isArray(value) ? value.length : 0}`,
        },
      };
    case 'maxItems':
      return {
        entry: jsonPath(err.instancePath),
        rule: {
          rule: 'length',
          params: { max: p.limit },
          description: `expected a maximum of ${String(p.limit)} items but got ${Array.isArray(value) ? value.length : 0}`,
        },
      };
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
    case 'exclusiveMaximum':
      return {
        entry: jsonPath(err.instancePath),
        rule: { rule: 'number', params: { [String(p.comparison)]: p.limit }, description: `expected the value to be ${String(p.comparison)} ${String(p.limit)}` },
      };
    case 'pattern':
      return {
        entry: jsonPath(err.instancePath),
        rule: { rule: 'format', params: { pattern: p.pattern }, description: `string does not match pattern "${String(p.pattern)}"` },
      };
    case 'format':
      return {
        entry: jsonPath(err.instancePath),
        rule: {
          rule: 'format',
          params: { format: p.format },
          description:
            p.format === 'date-time'
              ? `expected "${String(value)}" to be a valid ISO 8601 date-time`
              : p.format === 'date'
                ? `expected "${String(value)}" to be a valid ISO 8601 date`
                : `expected "${String(value)}" to be a valid ${String(p.format)}`,
        },
      };
    case 'oneOf':
      return {
        entry: jsonPath(err.instancePath),
        rule: {
          rule: 'schemata',
          params: [],
          description: Array.isArray(p.passingSchemas)
            ? `expected exactly one of the schemata to match, but the schemata at the following indexes did: ${(p.passingSchemas as number[]).join(', ')}`
            : 'expected exactly one of the schemata to match, but none of them did',
        },
      };
    case 'anyOf':
      return { entry: jsonPath(err.instancePath), rule: { rule: 'schemata', params: [], description: 'expected any of the schemata to match but none did' } };
    case 'not':
      return { entry: jsonPath(err.instancePath), rule: { rule: 'schemata', params: [], description: 'expected schema not to match but it did' } };
    case 'uniqueItems':
      return { entry: jsonPath(err.instancePath), rule: { rule: 'unique', params: [], description: 'expected items to be unique but they were not' } };
    case 'if':
      return undefined; // the failing then/else branch reports the details
    default:
      return { entry: jsonPath(err.instancePath), rule: { rule: 'invalid', params: [], description: err.message ?? 'is invalid' } };
  }
}

/** Ajv errors → `invalid[]`, one entry per JSON path (rules merged, duplicates dropped), in the order found. */
export function ajvToInvalid(errors: ErrorObject[] | null | undefined, data: unknown): InvalidEntry[] {
  const byEntry = new Map<string, InvalidEntry>();
  // A oneOf/anyOf failure also reports every failing branch: keep the branch details only when they are all that is
  // known, otherwise the single "schemata" entry is clearer.
  for (const err of errors ?? []) {
    const mapped = mapError(err, data);
    if (!mapped) continue;
    let entry = byEntry.get(mapped.entry);
    if (!entry) {
      entry = { entry_type: 'json_data_property', entry: mapped.entry, rules: [] };
      byEntry.set(mapped.entry, entry);
    }
    if (!entry.rules.some((r) => r.rule === mapped.rule.rule && r.description === mapped.rule.description)) entry.rules.push(mapped.rule);
  }
  return [...byEntry.values()];
}

/** Validates and returns the validation_failed body, or undefined when valid. */
export function validateWith(validate: ValidateFunction, data: unknown): ValidationFailedBody | undefined {
  if (validate(data)) return undefined;
  return validationFailed(ajvToInvalid(validate.errors, data));
}
