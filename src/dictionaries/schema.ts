/**
 * Validation of a dictionary document with ajv: the JSON Schema of the file format plus two custom keywords,
 * `knownLanguage` (a canonical BCP 47 tag whose language ICU knows) and `dictionaryIntegrity` (unique codes,
 * display languages among `languages`, parents that exist, declared properties, no cycles).
 *
 * Errors come out as the eHealth-style `invalid` entries of a 422 `validation_failed` body.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { patternProblem } from './pattern.js';
import { NAME_PATTERN, RESERVED_PATTERN, RESERVED_SEGMENTS, type DictionaryFile } from './format.js';

export interface InvalidEntry {
  entry_type: 'json_data_property' | 'csv_line' | 'query_parameter' | 'request_body';
  entry: string;
  rules: { rule: string; params: unknown[]; description: string }[];
}

const languageNames = new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' });

/** `en`, `nb`, `uk`, `en-GB` are known; `EN` (not canonical), `xx`, `english` are not. */
const knownLanguageCache = new Map<string, boolean>();

export function isKnownLanguage(tag: unknown): boolean {
  if (typeof tag !== 'string' || tag.length === 0 || tag.length > 35) return false;
  const cached = knownLanguageCache.get(tag);
  if (cached !== undefined) return cached;
  const known = checkLanguage(tag);
  if (knownLanguageCache.size < 10_000) knownLanguageCache.set(tag, known);
  return known;
}

function checkLanguage(tag: string): boolean {
  let canonical: string;
  try {
    canonical = Intl.getCanonicalLocales(tag)[0];
  } catch {
    return false;
  }
  if (canonical !== tag) return false;
  const primary = tag.split('-')[0];
  try {
    return languageNames.of(primary) !== undefined;
  } catch {
    return false;
  }
}

const text = { type: 'string', pattern: '\\S', maxLength: 4096 };
const localized = {
  type: 'object',
  minProperties: 1,
  propertyNames: { knownLanguage: true },
  additionalProperties: text,
};
const CODE_PATTERN = '^[^\\s\\u0000-\\u001f\\u007f](?:[^\\u0000-\\u001f\\u007f]*[^\\s\\u0000-\\u001f\\u007f])?$';

export const dictionarySchema = {
  $id: 'https://hl7-engine.example/schemas/dictionary.schema.json',
  title: 'Dictionary',
  description: 'One dictionary (code list) of the HL7/FHIR integration engine. See README, section "Dictionaries".',
  type: 'object',
  required: ['name', 'version', 'languages', 'codes'],
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string', maxLength: 128, pattern: NAME_PATTERN, not: { type: 'string', pattern: RESERVED_PATTERN } },
    title: { type: 'string', maxLength: 512 },
    description: { type: 'string', maxLength: 8192 },
    version: { type: 'string', minLength: 1, maxLength: 128 },
    starter: { type: 'boolean' },
    source: {
      type: 'object',
      additionalProperties: false,
      properties: {
        publisher: { type: 'string' },
        description: { type: 'string' },
        url: { type: 'string' },
        repository: { type: 'string' },
        commit: { type: 'string' },
        files: {
          type: 'array',
          items: {
            type: 'object',
            required: ['path'],
            additionalProperties: false,
            properties: { path: { type: 'string' }, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
          },
        },
        license: { type: 'string' },
        notes: { type: 'string' },
      },
    },
    attribution: { type: 'string', maxLength: 8192 },
    license: { type: 'string', maxLength: 8192 },
    languages: { type: 'array', minItems: 1, maxItems: 50, uniqueItems: true, items: { type: 'string', knownLanguage: true } },
    default_language: { type: 'string', knownLanguage: true },
    aliases: { type: 'array', uniqueItems: true, maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 512, pattern: '^\\S+$' } },
    fhir: {
      type: 'object',
      additionalProperties: false,
      properties: { id: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' } },
    },
    labels: { type: 'array', items: { type: 'string', minLength: 1 } },
    normalize: {
      type: 'array',
      maxItems: 20,
      items: {
        type: 'object',
        required: ['pattern', 'replace'],
        additionalProperties: false,
        properties: {
          pattern: { type: 'string', minLength: 1, maxLength: 512, regexSyntax: true },
          replace: { type: 'string', maxLength: 256 },
          description: { type: 'string' },
        },
      },
    },
    properties: {
      type: 'array',
      maxItems: 100,
      items: {
        type: 'object',
        required: ['code', 'type'],
        additionalProperties: false,
        properties: {
          code: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_\\-]*$' },
          type: { enum: ['code', 'string', 'integer', 'boolean', 'decimal'] },
          description: { type: 'string' },
        },
      },
    },
    hierarchy: {
      type: 'object',
      required: ['meaning'],
      additionalProperties: false,
      properties: {
        meaning: { enum: ['grouped-by', 'is-a', 'part-of'] },
        groups: {
          type: 'array',
          items: {
            type: 'object',
            required: ['code', 'display'],
            additionalProperties: false,
            properties: { code: { type: 'string', pattern: CODE_PATTERN, maxLength: 256 }, display: localized, parent: { type: 'string', minLength: 1 } },
          },
        },
      },
    },
    codes: {
      type: 'array',
      minItems: 1,
      maxItems: 500_000,
      items: {
        type: 'object',
        required: ['code', 'display'],
        additionalProperties: false,
        properties: {
          code: { type: 'string', maxLength: 256, pattern: CODE_PATTERN },
          display: localized,
          definition: { ...localized, minProperties: 0 },
          active: { type: 'boolean' },
          parent: { type: 'string', minLength: 1, maxLength: 256 },
          properties: {
            type: 'object',
            additionalProperties: { type: ['string', 'number', 'boolean'] },
          },
        },
      },
    },
  },
  dictionaryIntegrity: true,
} as const;

interface IntegrityError {
  instancePath: string;
  message: string;
  rule: string;
}

/** Cross-field checks JSON Schema cannot express. Only runs on documents whose shape is already right. */
function integrityErrors(input: DictionaryFile): IntegrityError[] {
  const errors: IntegrityError[] = [];
  if (!Array.isArray(input.codes) || !Array.isArray(input.languages)) return errors;
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const isItem = (v: unknown): boolean => isObj(v) && typeof v.code === 'string';
  // Shape errors are reported by the schema; the cross checks look only at well-formed parts.
  const doc: DictionaryFile = {
    ...input,
    languages: input.languages.filter((l) => typeof l === 'string'),
    properties: Array.isArray(input.properties) ? input.properties.filter(isItem) : undefined,
    hierarchy: isObj(input.hierarchy) && Array.isArray(input.hierarchy.groups) ? { ...input.hierarchy, groups: input.hierarchy.groups.filter(isItem) } : undefined,
    codes: input.codes.map((c) => (isItem(c) ? c : { code: '\u0000invalid', display: {}, active: true })),
  };
  const objKeys = (v: unknown): string[] => (isObj(v) ? Object.keys(v) : []);
  const languages = new Set(doc.languages);
  if (doc.default_language && !languages.has(doc.default_language)) {
    errors.push({ instancePath: '/default_language', rule: 'inclusion', message: `"${doc.default_language}" is not one of languages` });
  }
  const declared = new Map((doc.properties ?? []).map((p) => [p.code, p.type]));
  const seenProps = new Set<string>();
  for (const [i, p] of (doc.properties ?? []).entries()) {
    if (seenProps.has(p.code)) errors.push({ instancePath: `/properties/${i}/code`, rule: 'unique', message: `duplicate property "${p.code}"` });
    seenProps.add(p.code);
  }
  const groups = new Map<string, number>();
  for (const [i, g] of (doc.hierarchy?.groups ?? []).entries()) {
    if (groups.has(g.code)) errors.push({ instancePath: `/hierarchy/groups/${i}/code`, rule: 'unique', message: `duplicate group "${g.code}"` });
    groups.set(g.code, i);
    for (const lang of objKeys(g.display)) {
      if (!languages.has(lang)) errors.push({ instancePath: `/hierarchy/groups/${i}/display/${lang}`, rule: 'inclusion', message: `language "${lang}" is not one of languages` });
    }
  }
  const first = new Map<string, number>();
  for (const [i, c] of doc.codes.entries()) {
    if (c.code === '\u0000invalid') continue;
    const prev = first.get(c.code);
    if (prev !== undefined) {
      errors.push({ instancePath: `/codes/${i}/code`, rule: 'unique', message: `duplicate code "${c.code}" (first at $.codes[${prev}])` });
    } else {
      first.set(c.code, i);
    }
    if (groups.has(c.code)) errors.push({ instancePath: `/codes/${i}/code`, rule: 'unique', message: `code "${c.code}" is also a hierarchy group` });
    for (const field of ['display', 'definition'] as const) {
      for (const lang of objKeys(c[field])) {
        if (!languages.has(lang)) errors.push({ instancePath: `/codes/${i}/${field}/${lang}`, rule: 'inclusion', message: `language "${lang}" is not one of languages (${doc.languages.join(', ')})` });
      }
    }
    for (const k of objKeys(c.properties)) {
      const v = c.properties![k];
      const type = declared.get(k);
      if (!type) {
        errors.push({ instancePath: `/codes/${i}/properties/${k}`, rule: 'inclusion', message: `property "${k}" is not declared in properties` });
      } else if (!valueFits(type, v)) {
        errors.push({ instancePath: `/codes/${i}/properties/${k}`, rule: 'type', message: `property "${k}" must be of type ${type}` });
      }
    }
  }
  const parentOf = (code: string): string | undefined => {
    const ci = first.get(code);
    if (ci !== undefined) return doc.codes[ci].parent;
    const gi = groups.get(code);
    return gi !== undefined ? doc.hierarchy!.groups![gi].parent : undefined;
  };
  const checkParent = (path: string, code: string, parent: string | undefined) => {
    if (typeof parent !== 'string') return;
    if (!first.has(parent) && !groups.has(parent)) {
      errors.push({ instancePath: path, rule: 'inclusion', message: `parent "${parent}" is neither a code nor a group of this dictionary` });
      return;
    }
    const seen = new Set([code]);
    for (let p: string | undefined = parent; p !== undefined; p = parentOf(p)) {
      if (seen.has(p)) {
        errors.push({ instancePath: path, rule: 'invalid', message: `parent chain of "${code}" has a cycle` });
        return;
      }
      seen.add(p);
    }
  };
  for (const [i, g] of (doc.hierarchy?.groups ?? []).entries()) checkParent(`/hierarchy/groups/${i}/parent`, g.code, g.parent);
  for (const [i, c] of doc.codes.entries()) if (first.get(c.code) === i) checkParent(`/codes/${i}/parent`, c.code, c.parent);
  return errors;
}

function valueFits(type: string, v: unknown): boolean {
  switch (type) {
    case 'boolean':
      return typeof v === 'boolean';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'decimal':
      return typeof v === 'number';
    default:
      return typeof v === 'string';
  }
}

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
ajv.addKeyword({
  keyword: 'knownLanguage',
  schemaType: 'boolean',
  errors: false,
  validate: (_schema: boolean, data: unknown) => isKnownLanguage(data),
});
ajv.addKeyword({
  keyword: 'regexSyntax',
  type: 'string',
  schemaType: 'boolean',
  errors: false,
  validate: (_schema: boolean, data: string) => patternProblem(data) === undefined,
});
type IntegrityValidate = ((schema: boolean, data: DictionaryFile) => boolean) & { errors?: Partial<ErrorObject>[] };
const integrity: IntegrityValidate = (_schema, data) => {
  const errs = integrityErrors(data);
  integrity.errors = errs.map((e) => ({ keyword: 'dictionaryIntegrity', instancePath: e.instancePath, message: e.message, params: { rule: e.rule } }));
  return errs.length === 0;
};
ajv.addKeyword({ keyword: 'dictionaryIntegrity', type: 'object', schemaType: 'boolean', errors: true, validate: integrity });

const validateFn = ajv.compile(dictionarySchema);

export interface ValidationResult {
  valid: boolean;
  invalid: InvalidEntry[];
  /** All problems found (`invalid` is capped). */
  total: number;
}

const MAX_REPORTED = 100;

/** Validates a dictionary document; `invalid` lists at most 100 problems, `total` counts them all. */
export function validateDictionary(doc: unknown): ValidationResult {
  if (validateFn(doc)) return { valid: true, invalid: [], total: 0 };
  const errors = dedupe(validateFn.errors ?? []);
  return { valid: false, invalid: errors.slice(0, MAX_REPORTED).map(toInvalid), total: errors.length };
}

function dedupe(errors: ErrorObject[]): ErrorObject[] {
  // propertyNames failures come twice (the name and the `propertyNames` wrapper); keep the informative one.
  const seen = new Set<string>();
  const out: ErrorObject[] = [];
  for (const e of errors) {
    if (e.keyword === 'propertyNames' || e.keyword === 'not') {
      if (e.keyword === 'not') out.push(e);
      continue;
    }
    const key = `${e.instancePath}|${e.keyword}|${e.message}|${JSON.stringify(e.params ?? {})}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}

export function jsonPath(instancePath: string): string {
  if (!instancePath) return '$';
  return (
    '$' +
    instancePath
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((s) => (/^\d+$/.test(s) ? `[${s}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`))
      .join('')
  );
}

function toInvalid(e: ErrorObject): InvalidEntry {
  let path = e.instancePath;
  let rule = e.keyword;
  let description = e.message ?? 'is invalid';
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      path = `${path}/${String(params.missingProperty)}`;
      description = 'required property is missing';
      break;
    case 'additionalProperties':
      path = `${path}/${String(params.additionalProperty)}`;
      rule = 'schema';
      description = 'unknown property';
      break;
    case 'knownLanguage':
      rule = 'inclusion';
      description = 'is not a known language tag (BCP 47 in canonical case, e.g. en, nb, uk, en-GB)';
      break;
    case 'regexSyntax':
      rule = 'format';
      description = 'is not a regular expression RE2 accepts (linear-time matching: no backreferences such as \\1, no lookaround such as (?= or (?<!)';
      break;
    case 'pattern':
      rule = 'format';
      description = /\\S'?$/.test(String(params.pattern)) ? 'must not be empty or blank' : `does not match ${String(params.pattern)}`;
      if (/\/codes\/\d+\/code$/.test(path)) description = 'must be non-empty, without control characters or leading/trailing spaces';
      if (path === '/name') description = 'must be letters, digits, _ . - in segments separated by single slashes';
      break;
    case 'minItems':
      rule = 'length';
      description = path === '/codes' ? 'a dictionary needs at least one code' : (e.message ?? description);
      break;
    case 'minProperties':
      rule = 'required';
      description = 'needs a text in at least one language';
      break;
    case 'not':
      rule = 'format';
      description = `no segment of a name may be ${RESERVED_SEGMENTS.join(', ')}`;
      break;
    case 'dictionaryIntegrity':
      rule = String(params.rule ?? 'invalid');
      break;
    case 'type':
      rule = 'cast';
      break;
    case 'enum':
      rule = 'inclusion';
      description = `must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
      break;
  }
  return { entry_type: 'json_data_property', entry: jsonPath(path), rules: [{ rule, params: [], description }] };
}
