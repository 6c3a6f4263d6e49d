/**
 * The dictionary file format: one JSON document per dictionary, the same shape in `dictionaries/*.json` (shipped),
 * in uploads (PUT /api/dictionaries/{name}, `dictionaries load`) and in exports. Documented in
 * docs/dictionaries.md and machine-checked by `schema.ts`.
 */

/** A language tag (BCP 47, canonical case: `en`, `nb`, `uk`, `en-GB`) → text. */
export type LocalizedText = Record<string, string>;

export type PropertyValue = string | number | boolean;

export interface DictionaryCode {
  code: string;
  /** At least one language; every key is one of the dictionary's `languages`. */
  display: LocalizedText;
  definition?: LocalizedText;
  /** Inactive codes stay listed (history, old data) but `isValidCode` rejects them. */
  active: boolean;
  /** Another code of this dictionary or a hierarchy group. */
  parent?: string;
  /** Values of the properties the dictionary declares in `properties`. */
  properties?: Record<string, PropertyValue>;
}

export interface DictionaryGroup {
  /** A grouping node (e.g. an ICPC-2 chapter): part of the hierarchy, never a valid code. */
  code: string;
  display: LocalizedText;
  parent?: string;
}

interface PropertyDefinition {
  code: string;
  type: 'code' | 'string' | 'integer' | 'boolean' | 'decimal';
  description?: string;
}

interface NormalizeRule {
  /** A regular expression matched against a code that is not found as written … */
  pattern: string;
  /** … and the replacement (`$1` etc.) tried instead, e.g. ICPC-2 `K31` / `*31` → `-31`. */
  replace: string;
  description?: string;
}

export interface DictionarySource {
  publisher?: string;
  description?: string;
  url?: string;
  repository?: string;
  commit?: string;
  files?: { path: string; sha256?: string }[];
  license?: string;
  notes?: string;
}

export interface DictionaryMeta {
  $schema?: string;
  name: string;
  title?: string;
  description?: string;
  /** The content's own version (e.g. ICPC-2e "7.0", eHealth snapshot date); the engine counts revisions itself. */
  version: string;
  /** A small placeholder list shipped because no public values exist: administrators replace it. */
  starter?: boolean;
  source?: DictionarySource;
  attribution?: string;
  license?: string;
  languages: string[];
  /** Language of `display` in CSV uploads and the first choice for FHIR `display` (default: languages[0]). */
  default_language?: string;
  /** Other names the dictionary is known by: coding systems, OIDs, canonical URLs (`urn:oid:…`, `http://…`). */
  aliases?: string[];
  fhir?: { id?: string };
  /** eHealth dictionary labels (SYSTEM, EXTERNAL, …), kept as they come. */
  labels?: string[];
  normalize?: NormalizeRule[];
  properties?: PropertyDefinition[];
  hierarchy?: { meaning: 'grouped-by' | 'is-a' | 'part-of'; groups?: DictionaryGroup[] };
}

export interface DictionaryFile extends DictionaryMeta {
  codes: DictionaryCode[];
}

/** Dictionary names: letters, digits and `_ . -`, segments separated by single slashes (`eHealth/ICPC2/reasons`). */
export const NAME_PATTERN = '^(?!.*//)[A-Za-z0-9][A-Za-z0-9_.\\-]*(?:/[A-Za-z0-9_.\\-]+)*$';
const NAME_RE = new RegExp(NAME_PATTERN);
/** Path segments the admin API gives a meaning to (…/codes/{code}, …/rollback): no name segment may be one of them. */
export const RESERVED_SEGMENTS = ['codes', 'rollback', 'versions', 'export'];
export const RESERVED_PATTERN = `(^|/)(${RESERVED_SEGMENTS.join('|')})(/|$)`;

export function validName(name: string): boolean {
  return name.length <= 128 && NAME_RE.test(name) && !new RegExp(RESERVED_PATTERN).test(name);
}

/** FHIR id / file name of a dictionary: `eHealth/ICPC2/reasons` → `ehealth-icpc2-reasons`. */
export function slugOf(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return (slug || 'dictionary').slice(0, 64);
}

export function fhirIdOf(meta: Pick<DictionaryMeta, 'name' | 'fhir'>): string {
  return meta.fhir?.id ?? slugOf(meta.name);
}

export function defaultLanguageOf(meta: Pick<DictionaryMeta, 'languages' | 'default_language'>): string {
  return meta.default_language ?? meta.languages[0] ?? 'en';
}

export function splitFile(file: DictionaryFile): { meta: DictionaryMeta; codes: DictionaryCode[] } {
  const { codes, ...meta } = file;
  return { meta, codes };
}

/**
 * Serialises a dictionary for `dictionaries/*.json`: metadata pretty-printed, one code per line (small, stable diffs).
 */
export function serializeDictionary(file: DictionaryFile): string {
  const { codes, ...meta } = file;
  const head = JSON.stringify(meta, null, 2);
  const lines = codes.map((c) => `    ${JSON.stringify(c)}`);
  const body = lines.length ? `[\n${lines.join(',\n')}\n  ]` : '[]';
  return `${head.slice(0, -2)},\n  "codes": ${body}\n}\n`;
}

/** Codes in a stable form (defaults filled, keys ordered) so diffs compare values, not spelling. */
export function canonicalCode(c: DictionaryCode): DictionaryCode {
  const out: DictionaryCode = { code: c.code, display: sortKeys(c.display), active: c.active !== false };
  if (c.definition && Object.keys(c.definition).length) out.definition = sortKeys(c.definition);
  if (c.parent !== undefined && c.parent !== '') out.parent = c.parent;
  if (c.properties && Object.keys(c.properties).length) out.properties = sortKeys(c.properties);
  return out;
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}
