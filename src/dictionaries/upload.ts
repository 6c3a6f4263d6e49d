/**
 * Uploads (HTTP body or CLI file) → a dictionary document.
 *
 * JSON: the file format (see format.ts); fields left out keep the current dictionary's values (so `{"codes": […]}`
 * or a bare array of codes replaces only the codes); `display` may be a plain string (= the default language).
 *
 * CSV: a header row, then one code per row. Columns (case-insensitive names):
 *   code (required) · display (default language) · display_<lang> (e.g. display_en, display_nb, display_uk) ·
 *   definition_<lang> · active (true/false, yes/no, 1/0; empty = true) · parent · any property the dictionary declares.
 * Delimiter `,`, `;` or tab (detected); quotes per RFC 4180. Metadata is kept from the current dictionary;
 * `version` comes from the `version` option (query parameter) when given.
 */
import { defaultLanguageOf, type DictionaryCode, type DictionaryFile, type DictionaryMeta, type PropertyValue } from './format.js';
import { isKnownLanguage, type InvalidEntry } from './schema.js';
import { CsvError, parseCsv } from './text.js';

export class UploadError extends Error {
  constructor(
    public readonly status: number,
    public readonly type: string,
    message: string,
    public readonly invalid?: InvalidEntry[],
  ) {
    super(message);
    this.name = 'UploadError';
  }
}

interface UploadContext {
  name: string;
  /** The dictionary as it is now (metadata is inherited from it), if it exists. */
  current?: DictionaryMeta;
  /** Overrides the version of the new content (CSV, or JSON without `version`). */
  version?: string;
  /** Language of a plain `display` column / string (default: the dictionary's default language). */
  language?: string;
}

function invalid(entryType: InvalidEntry['entry_type'], entry: string, rule: string, description: string): InvalidEntry {
  return { entry_type: entryType, entry, rules: [{ rule, params: [], description }] };
}

function fallbackMeta(ctx: UploadContext, languages: string[]): DictionaryMeta {
  return ctx.current ? { ...ctx.current } : { name: ctx.name, title: ctx.name, version: ctx.version ?? '1', languages };
}

/** A parsed JSON value (object in the file format, or an array of codes) → dictionary document. */
export function jsonToDictionary(value: unknown, ctx: UploadContext): DictionaryFile {
  if (Array.isArray(value)) value = { codes: value };
  if (typeof value !== 'object' || value === null) {
    throw new UploadError(422, 'validation_failed', 'The body must be a dictionary object (with "codes") or an array of codes', [
      invalid('json_data_property', '$', 'cast', 'expected an object or an array'),
    ]);
  }
  const body = value as Partial<DictionaryFile> & Record<string, unknown>;
  if (body.name !== undefined && body.name !== ctx.name) {
    throw new UploadError(422, 'validation_failed', `The document's name "${String(body.name).slice(0, 200)}" differs from the dictionary in the URL "${ctx.name}"`, [
      invalid('json_data_property', '$.name', 'inclusion', `must be "${ctx.name}" (or left out)`),
    ]);
  }
  const declaredLanguages = Array.isArray(body.languages) ? (body.languages as string[]) : undefined;
  const codes = Array.isArray(body.codes) ? body.codes : body.codes;
  const defaultLang = ctx.language ?? (typeof body.default_language === 'string' ? body.default_language : undefined) ?? (declaredLanguages?.[0]) ?? (ctx.current ? defaultLanguageOf(ctx.current) : undefined);
  const derived = new Set<string>();
  const normalizedCodes = Array.isArray(codes)
    ? codes.map((c: unknown) => {
        if (typeof c !== 'object' || c === null) return c;
        const code = { ...(c as Record<string, unknown>) };
        if (typeof code.display === 'string') code.display = { [defaultLang ?? 'en']: code.display };
        if (typeof code.display === 'object' && code.display !== null) for (const k of Object.keys(code.display)) derived.add(k);
        return code;
      })
    : codes;
  const base = fallbackMeta(ctx, declaredLanguages ?? (derived.size ? [...derived] : [defaultLang ?? 'en']));
  const merged: Record<string, unknown> = { ...base, ...body, name: ctx.name, codes: normalizedCodes };
  if (ctx.version) merged.version = ctx.version;
  if (!ctx.current && declaredLanguages === undefined) merged.languages = derived.size ? [...derived] : [defaultLang ?? 'en'];
  if (ctx.current && declaredLanguages === undefined) {
    // Keep the current languages and add any new one the codes use.
    const langs = [...ctx.current.languages];
    for (const l of derived) if (!langs.includes(l)) langs.push(l);
    merged.languages = langs;
  }
  delete merged.$schema;
  return merged as unknown as DictionaryFile;
}

export interface CsvDictionary {
  file: DictionaryFile;
  /** CSV line of each code, to report validation errors by line. */
  lines: number[];
  columns: string[];
}

/** CSV text → dictionary document (metadata from the current dictionary). */
export function csvToDictionary(text: string, ctx: UploadContext): CsvDictionary {
  let rows;
  try {
    rows = parseCsv(text);
  } catch (err) {
    if (err instanceof CsvError) throw new UploadError(400, 'request_malformed', `The CSV cannot be read: ${err.message}`, [invalid('csv_line', `line ${err.line}`, 'format', err.message)]);
    throw err;
  }
  if (rows.length === 0) throw new UploadError(400, 'request_malformed', 'The CSV is empty: it needs a header row (code, display, …) and at least one code');
  const header = rows[0].fields.map((h) => h.trim());
  const defaultLang = ctx.language ?? (ctx.current ? defaultLanguageOf(ctx.current) : 'en');
  const declared = new Map((ctx.current?.properties ?? []).map((p) => [p.code, p.type]));
  type Column =
    | { kind: 'code' | 'active' | 'parent' }
    | { kind: 'display' | 'definition'; lang: string }
    | { kind: 'property'; code: string; type: string };
  const columns: Column[] = [];
  const problems: InvalidEntry[] = [];
  const seen = new Set<string>();
  for (const [i, h] of header.entries()) {
    const lower = h.toLowerCase();
    const at = `line ${rows[0].line}, column ${i + 1} "${h.slice(0, 64)}"`;
    let col: Column | undefined;
    const m = /^(display|definition)(?:[_:.](.+))?$/i.exec(h);
    if (lower === 'code' || lower === 'active' || lower === 'parent') col = { kind: lower };
    else if (m) {
      const lang = m[2] ?? defaultLang;
      if (!isKnownLanguage(lang)) problems.push(invalid('csv_line', at, 'inclusion', `"${lang}" is not a known language tag (BCP 47 in canonical case, e.g. en, nb, uk)`));
      col = { kind: m[1].toLowerCase() as 'display' | 'definition', lang };
    } else if (declared.has(h)) col = { kind: 'property', code: h, type: declared.get(h)! };
    else problems.push(invalid('csv_line', at, 'inclusion', `unknown column; expected code, display, display_<lang>, definition_<lang>, active, parent${declared.size ? ` or a property (${[...declared.keys()].join(', ')})` : ''}`));
    const key = col ? JSON.stringify(col) : `?${i}`;
    if (col && seen.has(key)) problems.push(invalid('csv_line', at, 'unique', 'duplicate column'));
    seen.add(key);
    columns.push(col ?? { kind: 'parent' });
  }
  if (!header.some((h) => h.toLowerCase() === 'code')) problems.push(invalid('csv_line', `line ${rows[0].line}`, 'required', 'the header has no "code" column'));
  if (!columns.some((c) => c.kind === 'display')) problems.push(invalid('csv_line', `line ${rows[0].line}`, 'required', 'the header has no display column (display or display_<lang>)'));
  if (problems.length) throw new UploadError(422, 'validation_failed', 'The CSV header is invalid', problems);

  const codes: DictionaryCode[] = [];
  const lines: number[] = [];
  const languages = new Set<string>(ctx.current?.languages ?? []);
  for (const row of rows.slice(1)) {
    if (row.fields.length !== header.length) {
      problems.push(invalid('csv_line', `line ${row.line}`, 'invalid', `has ${row.fields.length} fields, the header has ${header.length}`));
      continue;
    }
    const code: DictionaryCode = { code: '', display: {}, active: true };
    for (const [i, col] of columns.entries()) {
      const raw = row.fields[i];
      const value = raw.trim();
      switch (col.kind) {
        case 'code':
          code.code = raw === value ? raw : value;
          break;
        case 'display':
        case 'definition':
          if (value !== '') {
            (code[col.kind] ??= {})[col.lang] = value;
            languages.add(col.lang);
          }
          break;
        case 'active':
          if (/^(true|1|yes|y|active)$/i.test(value) || value === '') code.active = true;
          else if (/^(false|0|no|n|inactive)$/i.test(value)) code.active = false;
          else problems.push(invalid('csv_line', `line ${row.line}, column ${i + 1} "active"`, 'cast', `"${value.slice(0, 32)}" is not true/false`));
          break;
        case 'parent':
          if (value !== '') code.parent = value;
          break;
        case 'property': {
          if (value === '') break;
          const v = castProperty(col.type, value);
          if (v === undefined) problems.push(invalid('csv_line', `line ${row.line}, column ${i + 1} "${col.code}"`, 'cast', `"${value.slice(0, 32)}" is not a ${col.type}`));
          else (code.properties ??= {})[col.code] = v;
          break;
        }
      }
    }
    codes.push(code);
    lines.push(row.line);
  }
  if (problems.length) throw new UploadError(422, 'validation_failed', `The CSV has ${problems.length} invalid line${problems.length === 1 ? '' : 's'}`, problems.slice(0, 100));
  const base = fallbackMeta(ctx, [...languages]);
  const langs = [...(ctx.current?.languages ?? [])];
  for (const l of languages) if (!langs.includes(l)) langs.push(l);
  const file: DictionaryFile = { ...base, name: ctx.name, languages: langs.length ? langs : [defaultLang], codes };
  if (ctx.version) file.version = ctx.version;
  delete file.$schema;
  return { file, lines, columns: header };
}

function castProperty(type: string, value: string): PropertyValue | undefined {
  switch (type) {
    case 'integer':
      return /^-?\d+$/.test(value) ? Number(value) : undefined;
    case 'decimal':
      return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : undefined;
    case 'boolean':
      return /^(true|1|yes)$/i.test(value) ? true : /^(false|0|no)$/i.test(value) ? false : undefined;
    default:
      return value;
  }
}

/** Rewrites `$.codes[i]…` entries of validation errors as CSV line references. */
export function csvInvalid(entries: InvalidEntry[], csv: CsvDictionary): InvalidEntry[] {
  return entries.map((e) => {
    const m = /^\$\.codes\[(\d+)\](.*)$/.exec(e.entry);
    if (!m) return e;
    const line = csv.lines[Number(m[1])];
    const field = m[2]
      .replace(/^\./, '')
      .replace(/^display\.([\w-]+)$/, 'display_$1')
      .replace(/^display\["([^"]+)"\]$/, 'display_$1')
      .replace(/^definition\.([\w-]+)$/, 'definition_$1')
      .replace(/^properties\.(\w+)$/, '$1');
    return { ...e, entry_type: 'csv_line', entry: `line ${line}${field ? ` (${field})` : ''}` };
  });
}
