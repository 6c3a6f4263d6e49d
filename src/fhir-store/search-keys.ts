/**
 * Search keys computed at write time from a resource (and stored with its current version):
 *
 *   s[param]  token     "system|code" ("|code" without system)          e.g. "urn:oid:2.16.578.1.12.4.1.4.1|01016400952"
 *             reference "Type/id" (relative) or the absolute URL          e.g. "Patient/123"
 *             string    normalised values (lower case, no accents)        e.g. "nordmann"
 *             uri       the URI as is
 *   x[param]  string parameters: the raw values (for :exact)
 *   d[param]  date parameters: {l, h} ranges in epoch milliseconds (inclusive)
 *
 * and the posting keys of the search index (`Type|param|value`, see postings.ts) derived from them: token keys for
 * "system|code" and "*|code" (code in any system), reference keys per target, string keys for prefixes of 1..8
 * characters of each value and word, plus one key per type ("Type|_type|") listing every resource of the type.
 */
import type { Resource } from '@medplum/fhirtypes';
import { typeDef, type SearchParamDef } from './resource-types.js';

export interface SearchKeys {
  s: Record<string, string[]>;
  x: Record<string, string[]>;
  d: Record<string, DateRange[]>;
}

/** An inclusive range in epoch ms (objects, not nested arrays: FerretDB rejects nested arrays). */
export interface DateRange {
  l: number;
  h: number;
}

export const STRING_PREFIX_MAX = 8;
export const STRING_VALUE_MAX = 128;

/** Values at a dotted path, arrays flattened at every level. */
export function valuesAt(root: unknown, path: string): unknown[] {
  let current: unknown[] = [root];
  for (const seg of path.split('.')) {
    const next: unknown[] = [];
    for (const v of current) {
      if (v === null || typeof v !== 'object') continue;
      const child = (v as Record<string, unknown>)[seg];
      if (child === undefined || child === null) continue;
      if (Array.isArray(child)) next.push(...child.filter((c) => c !== undefined && c !== null));
      else next.push(child);
    }
    current = next;
  }
  return current;
}

const FOLD: Record<string, string> = { ø: 'o', æ: 'ae', œ: 'oe', ß: 'ss', đ: 'd', ð: 'd', ł: 'l', þ: 'th', ı: 'i' };

/** Lower case, accents removed (NFD + strip combining marks, ø→o, æ→ae, ...), whitespace collapsed. */
export function normalizeString(v: string): string {
  return v
    .toLowerCase()
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[øæœßđðłþı]/g, (c) => FOLD[c] ?? c)
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, STRING_VALUE_MAX);
}

function tokenEntries(v: unknown): string[] {
  if (typeof v === 'string') return [`|${v}`];
  if (typeof v === 'boolean' || typeof v === 'number') return [`|${String(v)}`];
  if (!v || typeof v !== 'object') return [];
  const o = v as Record<string, unknown>;
  if (Array.isArray(o.coding)) return o.coding.flatMap(tokenEntries);
  const code = typeof o.code === 'string' ? o.code : typeof o.value === 'string' ? o.value : undefined;
  if (code === undefined) return [];
  return [`${typeof o.system === 'string' ? o.system : ''}|${code}`];
}

const RELATIVE_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const ABSOLUTE_REF = /^(https?:\/\/.+)\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** "Type/id" for relative references (a version suffix is dropped); absolute and other URIs as given. */
export function normalizeReference(ref: string, baseUrl?: string): string {
  const rel = RELATIVE_REF.exec(ref);
  if (rel) return `${rel[1]}/${rel[2]}`;
  const abs = ABSOLUTE_REF.exec(ref);
  if (abs && baseUrl && abs[1].replace(/\/$/, '') === baseUrl.replace(/\/$/, '')) return `${abs[2]}/${abs[3]}`;
  return ref;
}

function referenceEntries(v: unknown): string[] {
  if (!v || typeof v !== 'object') return [];
  const r = (v as { reference?: unknown }).reference;
  if (typeof r !== 'string' || r === '' || r.startsWith('#')) return [];
  return [normalizeReference(r)];
}

function stringEntries(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (!v || typeof v !== 'object') return [];
  const o = v as Record<string, unknown>;
  // HumanName / Address: every part
  const out: string[] = [];
  for (const k of ['text', 'family', 'given', 'prefix', 'suffix', 'line', 'city', 'district', 'state', 'postalCode', 'country']) {
    const part = o[k];
    if (typeof part === 'string') out.push(part);
    else if (Array.isArray(part)) out.push(...part.filter((p): p is string => typeof p === 'string'));
  }
  return out;
}

const DATE_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The [low, high] range in epoch ms that a FHIR date/dateTime/instant covers given its precision
 * ("2024" → the whole year). Times without a zone are taken as UTC. Undefined when not a valid date.
 */
export function dateRange(v: string): [number, number] | undefined {
  const m = DATE_RE.exec(v.trim());
  if (!m) return undefined;
  const [, y, mo, d, hh, mi, ss, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) : undefined;
  const day = d ? Number(d) : undefined;
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > 31)) return undefined;
  if (hh === undefined) {
    const lo = Date.UTC(year, (month ?? 1) - 1, day ?? 1);
    const hi =
      day !== undefined ? Date.UTC(year, month! - 1, day + 1) : month !== undefined ? Date.UTC(year, month, 1) : Date.UTC(year + 1, 0, 1);
    return [lo, hi - 1];
  }
  const offset = !tz || tz === 'Z' ? 0 : (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  const ms = frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0;
  const base = Date.UTC(year, month! - 1, day!, Number(hh), Number(mi), ss ? Number(ss) : 0, ms) - offset * 60_000;
  if (Number.isNaN(base)) return undefined;
  const width = frac ? 0 : ss ? 999 : 59_999;
  return [base, base + width];
}

export const MIN_DATE = -8.64e15;
export const MAX_DATE = 8.64e15;

function dateEntries(v: unknown): DateRange[] {
  if (typeof v === 'string') {
    const r = dateRange(v);
    return r ? [{ l: r[0], h: r[1] }] : [];
  }
  if (v && typeof v === 'object') {
    const p = v as { start?: unknown; end?: unknown };
    if (p.start === undefined && p.end === undefined) return [];
    const lo = typeof p.start === 'string' ? dateRange(p.start)?.[0] : MIN_DATE;
    const hi = typeof p.end === 'string' ? dateRange(p.end)?.[1] : MAX_DATE;
    if (lo === undefined || hi === undefined) return [];
    return [{ l: lo, h: hi }];
  }
  return [];
}

function extract(resource: Resource, def: SearchParamDef): { s?: string[]; x?: string[]; d?: DateRange[] } {
  const values = def.paths.flatMap((p) => valuesAt(resource, p));
  switch (def.type) {
    case 'token':
      return { s: unique(values.flatMap(tokenEntries)) };
    case 'uri':
      return { s: unique(values.filter((v): v is string => typeof v === 'string')) };
    case 'reference':
      return { s: unique(values.flatMap(referenceEntries)) };
    case 'string': {
      const raw = unique(values.flatMap(stringEntries));
      return { s: unique(raw.map(normalizeString).filter(Boolean)), x: raw };
    }
    case 'date':
      return { d: values.flatMap(dateEntries) };
  }
}

function unique<T>(a: T[]): T[] {
  return [...new Set(a)];
}

/** The stored search keys of a resource (only non-empty entries). */
export function searchKeys(resource: Resource): SearchKeys {
  const out: SearchKeys = { s: {}, x: {}, d: {} };
  const def = typeDef(resource.resourceType);
  if (!def) return out;
  for (const p of def.params) {
    if (p.aliasOf) continue;
    const e = extract(resource, p);
    if (e.s && e.s.length > 0) out.s[p.name] = e.s;
    if (e.x && e.x.length > 0) out.x[p.name] = e.x;
    if (e.d && e.d.length > 0) out.d[p.name] = e.d;
  }
  return out;
}

export function typeKey(type: string): string {
  return `${type}|_type|`;
}

export function postingKey(type: string, param: string, value: string): string {
  return `${type}|${param}|${value}`;
}

/** Prefixes (1..8 characters) of a normalised value and of each of its words. */
export function stringPrefixes(value: string): string[] {
  const out = new Set<string>();
  const words = [value, ...value.split(/[\s,.\-']+/).filter(Boolean)];
  for (const w of words) {
    for (let n = 1; n <= Math.min(w.length, STRING_PREFIX_MAX); n++) out.add(w.slice(0, n));
  }
  return [...out];
}

/** The search-index keys a resource must be listed under. */
export function postingKeys(type: string, keys: SearchKeys): string[] {
  const def = typeDef(type);
  const out = new Set<string>([typeKey(type)]);
  if (!def) return [...out];
  for (const p of def.params) {
    const values = keys.s[p.name];
    if (!values || p.aliasOf) continue;
    for (const v of values) {
      switch (p.type) {
        case 'token': {
          const bar = v.indexOf('|');
          const code = v.slice(bar + 1);
          out.add(postingKey(type, p.name, `*|${code}`));
          if (bar > 0) out.add(postingKey(type, p.name, v));
          break;
        }
        case 'uri':
        case 'reference':
          out.add(postingKey(type, p.name, v));
          break;
        case 'string':
          for (const prefix of stringPrefixes(v)) out.add(postingKey(type, p.name, prefix));
          break;
      }
    }
  }
  return [...out];
}
