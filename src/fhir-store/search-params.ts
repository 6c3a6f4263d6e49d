/**
 * Parsing FHIR search parameters into conditions, and matching a stored resource's search keys against them.
 *
 * Supported: token (`system|code`, `|code`, `code`, `system|`), reference (`Type/id`, `id`, absolute URL of this
 * server, `:Type` modifier), date (prefixes eq/ne? no — eq, gt, ge, lt, le), string (starts-with, `:exact`), uri;
 * `_id`, `_lastUpdated`, `_count`, `_offset`, `_sort`, `_include`, `_revinclude`, `_summary=count`, `_total`,
 * `_format`, `_cursor` (paging). Comma = OR within a parameter, repeated parameter = AND.
 * Unknown parameters are collected in `unknown` (the caller decides lenient vs strict); chained parameters
 * (`subject.name`, `_has:…`) are refused with 400.
 */
import { badRequest, notSupported } from './errors.js';
import { dateRange, type DateRange, normalizeReference, normalizeString, postingKey, STRING_PREFIX_MAX, typeKey } from './search-keys.js';
import { paramDef, typeDef, type SearchParamDef } from './resource-types.js';

export type DatePrefix = 'eq' | 'gt' | 'ge' | 'lt' | 'le';

export type ConditionValue =
  | { kind: 'token'; system: string | undefined; code: string | undefined }
  | { kind: 'reference'; refs: string[] }
  | { kind: 'string'; value: string; exact: boolean }
  | { kind: 'uri'; value: string }
  | { kind: 'date'; prefix: DatePrefix; lo: number; hi: number };

export interface Condition {
  /** Parameter name as stored (`subject` for the `patient` alias). */
  param: string;
  /** Name the client used. */
  name: string;
  type: SearchParamDef['type'] | 'id' | 'lastUpdated';
  /** OR-ed alternatives. */
  values: ConditionValue[];
  /** Only references to these types match (aliases like `patient`, or the `:Type` modifier). */
  targetTypes?: string[];
}

export interface IncludeSpec {
  /** Source type whose reference parameter is followed. */
  sourceType: string;
  param: string;
  targetType?: string;
}

export interface SortSpec {
  field: '_lastUpdated' | '_id' | string;
  desc: boolean;
}

export interface ParsedSearch {
  type: string;
  conditions: Condition[];
  ids?: string[];
  count: number;
  offset: number;
  cursor?: string;
  sort: SortSpec[];
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  summaryCount: boolean;
  /** Parameters not understood (name as given). */
  unknown: string[];
  /** Canonical query (without paging parameters) for self/next/previous links. */
  canonical: [string, string][];
}

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

const RESULT_PARAMS = new Set(['_count', '_offset', '_sort', '_include', '_revinclude', '_summary', '_total', '_format', '_cursor', '_pretty', '_elements']);

function asList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** Splits on commas not escaped with a backslash; the escapes stay (each part is unescaped after its `|` split). */
export function splitOr(v: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === '\\' && i + 1 < v.length) {
      cur += c + v[++i];
      continue;
    }
    if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function splitBar(v: string): [string, string] | [string] {
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\\') {
      i++;
      continue;
    }
    if (v[i] === '|') return [v.slice(0, i), v.slice(i + 1)];
  }
  return [v];
}

function unescape(v: string): string {
  return v.replace(/\\([,|$\\])/g, '$1');
}

function parseDateValue(name: string, raw: string): ConditionValue {
  const m = /^(eq|ne|gt|ge|lt|le|sa|eb|ap)?(.*)$/.exec(raw)!;
  const prefix = (m[1] ?? 'eq') as string;
  if (!['eq', 'gt', 'ge', 'lt', 'le'].includes(prefix)) throw notSupported(`Date prefix "${prefix}" is not supported for ${name} (use eq, gt, ge, lt, le)`);
  const range = dateRange(m[2]);
  if (!range) throw badRequest(`Invalid date "${m[2]}" for search parameter ${name}`);
  return { kind: 'date', prefix: prefix as DatePrefix, lo: range[0], hi: range[1] };
}

function parseReference(def: SearchParamDef, raw: string, typeModifier: string | undefined, baseUrl: string | undefined): string[] {
  const v = unescape(raw);
  if (v === '') throw badRequest(`Empty value for reference parameter ${def.name}`);
  if (typeModifier) {
    if (v.includes('/')) return [normalizeReference(v, baseUrl)];
    return [`${typeModifier}/${v}`];
  }
  const n = normalizeReference(v, baseUrl);
  if (n.includes('/') || n.includes(':')) return [n];
  // a bare id: any of the parameter's target types
  const targets = def.targets && def.targets.length > 0 ? def.targets : [];
  if (targets.length === 0) throw badRequest(`Reference parameter ${def.name} needs Type/id (the target type is open)`);
  return targets.map((t) => `${t}/${v}`);
}

export interface ParseOptions {
  /** Base URL of this server: absolute references to it are treated as relative. */
  baseUrl?: string;
}

export function parseSearch(type: string, params: Record<string, string | string[] | undefined>, opts: ParseOptions = {}): ParsedSearch {
  const def = typeDef(type);
  if (!def) throw notSupported(`Resource type ${type} is not supported`);
  const out: ParsedSearch = {
    type,
    conditions: [],
    count: DEFAULT_COUNT,
    offset: 0,
    sort: [],
    include: [],
    revinclude: [],
    summaryCount: false,
    unknown: [],
    canonical: [],
  };
  for (const [fullName, rawValue] of Object.entries(params)) {
    const values = asList(rawValue);
    if (values.length === 0) continue;
    const [name, modifier] = fullName.split(':', 2) as [string, string | undefined];
    // A chain (subject.name, subject:Patient.name) or reverse chain (_has:…) is a filter: ignoring it as an unknown
    // parameter would answer every resource of the type, so it is refused.
    if (name.includes('.') || modifier?.includes('.') || name === '_has') {
      throw notSupported(`Chained search parameters (${fullName.slice(0, 64)}) are not supported`);
    }
    if (RESULT_PARAMS.has(name)) {
      parseResultParam(out, fullName, name, values, opts);
      continue;
    }
    if (name === '_id') {
      if (modifier) throw notSupported(`Modifier :${modifier} is not supported on _id`);
      const ids = values.flatMap(splitOr).map(unescape);
      for (const v of values) out.canonical.push([fullName, v]);
      const bad = ids.find((i) => !/^[A-Za-z0-9\-.]{1,64}$/.test(i));
      if (bad !== undefined) throw badRequest(`Invalid resource id "${bad}" in _id`);
      out.ids = out.ids ? out.ids.filter((i) => ids.includes(i)) : ids;
      continue;
    }
    if (name === '_lastUpdated') {
      if (modifier) throw notSupported(`Modifier :${modifier} is not supported on _lastUpdated`);
      for (const v of values) {
        out.conditions.push({ param: '_lastUpdated', name, type: 'lastUpdated', values: splitOr(v).map((x) => parseDateValue(name, x)) });
        out.canonical.push([fullName, v]);
      }
      continue;
    }
    const p = paramDef(type, name);
    if (!p) {
      out.unknown.push(fullName);
      continue;
    }
    for (const v of values) {
      out.conditions.push(parseCondition(type, p, name, modifier, v, opts));
      out.canonical.push([fullName, v]);
    }
  }
  return out;
}

function parseCondition(type: string, p: SearchParamDef, name: string, modifier: string | undefined, raw: string, opts: ParseOptions): Condition {
  const alts = splitOr(raw);
  switch (p.type) {
    case 'token': {
      if (modifier) throw notSupported(`Modifier :${modifier} is not supported on ${name}`);
      return {
        param: p.name,
        name,
        type: 'token',
        values: alts.map((a) => {
          const parts = splitBar(a);
          if (parts.length === 1) {
            const code = unescape(parts[0]);
            if (code === '') throw badRequest(`Empty value for token parameter ${name}`);
            return { kind: 'token', system: undefined, code };
          }
          const system = unescape(parts[0]);
          const code = unescape(parts[1]);
          if (system === '' && code === '') throw badRequest(`Empty value for token parameter ${name}`);
          return { kind: 'token', system, code: code === '' ? undefined : code };
        }),
      };
    }
    case 'uri':
      if (modifier) throw notSupported(`Modifier :${modifier} is not supported on ${name}`);
      return { param: p.name, name, type: 'uri', values: alts.map((a) => ({ kind: 'uri', value: unescape(a) })) };
    case 'string': {
      if (modifier && modifier !== 'exact') throw notSupported(`Modifier :${modifier} is not supported on ${name} (only :exact)`);
      return {
        param: p.name,
        name,
        type: 'string',
        values: alts.map((a) => {
          const value = modifier === 'exact' ? unescape(a) : normalizeString(unescape(a));
          if (value === '') throw badRequest(`Empty value for string parameter ${name}`);
          return { kind: 'string', value, exact: modifier === 'exact' };
        }),
      };
    }
    case 'date':
      if (modifier) throw notSupported(`Modifier :${modifier} is not supported on ${name}`);
      return { param: p.name, name, type: 'date', values: alts.map((a) => parseDateValue(name, a)) };
    case 'reference': {
      const base = p.aliasOf ? paramDef(type, p.aliasOf)! : p;
      let typeModifier: string | undefined;
      if (modifier) {
        if (!/^[A-Z][A-Za-z]+$/.test(modifier) || !typeDef(modifier)) {
          throw notSupported(`Modifier :${modifier} is not supported on ${name} (only a resource type)`);
        }
        typeModifier = modifier;
      }
      const targetTypes = p.aliasOf ? p.targets : typeModifier ? [typeModifier] : undefined;
      const refs = alts.flatMap((a) => parseReference({ ...p, targets: targetTypes ?? base.targets }, a, typeModifier, opts.baseUrl));
      const restricted = targetTypes ? refs.filter((r) => targetTypes.includes(r.split('/')[0])) : refs;
      return {
        param: base.name,
        name,
        type: 'reference',
        values: restricted.map((r) => ({ kind: 'reference', refs: [r] })),
        targetTypes,
      };
    }
  }
}

function parseResultParam(out: ParsedSearch, fullName: string, name: string, values: string[], _opts: ParseOptions): void {
  const last = values[values.length - 1];
  switch (name) {
    case '_count': {
      if (!/^\d+$/.test(last)) throw badRequest(`_count must be a non-negative integer, got "${last}"`);
      out.count = Math.min(Number(last), MAX_COUNT);
      return;
    }
    case '_offset': {
      if (!/^\d+$/.test(last)) throw badRequest(`_offset must be a non-negative integer, got "${last}"`);
      out.offset = Number(last);
      return;
    }
    case '_cursor':
      out.cursor = last;
      return;
    case '_summary':
      if (last === 'count') out.summaryCount = true;
      else if (last !== 'false') out.unknown.push(`${fullName}=${last}`);
      return;
    case '_total':
    case '_format':
    case '_pretty':
      return;
    case '_elements':
      out.unknown.push(fullName);
      return;
    case '_sort': {
      for (const s of values.flatMap((v) => v.split(','))) {
        if (s === '') continue;
        const desc = s.startsWith('-');
        const field = desc ? s.slice(1) : s;
        const p = paramDef(out.type, field);
        if (field !== '_lastUpdated' && field !== '_id' && !(p && p.type === 'date')) {
          throw notSupported(`_sort by "${field}" is not supported (use _id, _lastUpdated or a date parameter)`);
        }
        out.sort.push({ field, desc });
      }
      out.canonical.push(['_sort', values.join(',')]);
      return;
    }
    case '_include':
    case '_revinclude': {
      for (const v of values) {
        if (v === '*') throw notSupported(`${name}=* is not supported`);
        const [src, param, target] = v.split(':');
        const p = src ? paramDef(src, param ?? '') : undefined;
        if (!p || p.type !== 'reference') throw badRequest(`${name} value "${v}" is not SourceType:reference-parameter`);
        if (target && !typeDef(target)) throw badRequest(`${name}: unknown target type ${target}`);
        if (fullName.endsWith(':iterate') || fullName.endsWith(':recurse')) throw notSupported(`${fullName} is not supported`);
        const spec: IncludeSpec = { sourceType: src, param: p.name, targetType: target };
        if (name === '_include') {
          if (src !== out.type) throw badRequest(`_include must start with the searched type ${out.type}, got "${v}"`);
          out.include.push(spec);
        } else out.revinclude.push(spec);
        out.canonical.push([name, v]);
      }
      return;
    }
  }
}

/** The subset of a stored document needed for matching. */
export interface Matchable {
  _id: string;
  lu: number;
  s?: Record<string, string[]>;
  x?: Record<string, string[]>;
  d?: Record<string, DateRange[]>;
}

function dateMatches(v: Extract<ConditionValue, { kind: 'date' }>, r: DateRange): boolean {
  switch (v.prefix) {
    case 'eq':
      return r.l >= v.lo && r.h <= v.hi;
    case 'gt':
      return r.h > v.hi;
    case 'ge':
      return r.h >= v.lo;
    case 'lt':
      return r.l < v.lo;
    case 'le':
      return r.l <= v.hi;
  }
}

export function valueMatches(cond: Condition, value: ConditionValue, doc: Matchable): boolean {
  switch (value.kind) {
    case 'date': {
      if (cond.type === 'lastUpdated') return dateMatches(value, { l: doc.lu, h: doc.lu });
      return (doc.d?.[cond.param] ?? []).some((r) => dateMatches(value, r));
    }
    case 'token': {
      const entries = doc.s?.[cond.param] ?? [];
      if (value.code === undefined) return entries.some((e) => e.startsWith(`${value.system}|`));
      if (value.system === undefined) return entries.some((e) => e.slice(e.indexOf('|') + 1) === value.code);
      return entries.includes(`${value.system}|${value.code}`);
    }
    case 'uri':
      return (doc.s?.[cond.param] ?? []).includes(value.value);
    case 'reference':
      return value.refs.some((r) => (doc.s?.[cond.param] ?? []).includes(r));
    case 'string': {
      if (value.exact) return (doc.x?.[cond.param] ?? []).includes(value.value);
      return (doc.s?.[cond.param] ?? []).some((e) => e.startsWith(value.value) || e.split(/[\s,.\-']+/).some((w) => w.startsWith(value.value)));
    }
  }
}

export function conditionMatches(cond: Condition, doc: Matchable): boolean {
  return cond.values.some((v) => valueMatches(cond, v, doc));
}

export function matchesAll(ps: ParsedSearch, doc: Matchable): boolean {
  if (ps.ids && !ps.ids.includes(doc._id)) return false;
  return ps.conditions.every((c) => conditionMatches(c, doc));
}

/** Posting key that lists every candidate for one alternative of a condition, or undefined (no usable key). */
export function valuePostingKey(type: string, cond: Condition, value: ConditionValue): string | undefined {
  switch (value.kind) {
    case 'token':
      if (value.code === undefined) return undefined;
      return postingKey(type, cond.param, value.system ? `${value.system}|${value.code}` : `*|${value.code}`);
    case 'uri':
      return postingKey(type, cond.param, value.value);
    case 'reference':
      return postingKey(type, cond.param, value.refs[0]);
    case 'string': {
      const v = value.exact ? normalizeString(value.value) : value.value;
      return v ? postingKey(type, cond.param, v.slice(0, STRING_PREFIX_MAX)) : undefined;
    }
    case 'date':
      return undefined;
  }
}

/** Higher = more selective: which condition should drive the index scan. */
function selectivity(cond: Condition): number {
  if (cond.param === 'identifier' || cond.type === 'uri') return 100;
  if (cond.type === 'reference') return 80;
  if (cond.type === 'string') {
    const len = Math.min(...cond.values.map((v) => (v.kind === 'string' ? v.value.length : 0)));
    return 30 + Math.min(len, STRING_PREFIX_MAX) * 5;
  }
  if (cond.type === 'token') return cond.param === 'status' || cond.param === 'intent' || cond.param === 'gender' ? 20 : 60;
  return 0;
}

export interface ScanPlan {
  /** Keys scanned in order (OR alternatives of the driving condition), or the type key. */
  keys: string[];
  /** The driving condition (undefined when scanning the type key). */
  driver?: Condition;
}

export function planScan(ps: ParsedSearch): ScanPlan {
  let best: { cond: Condition; keys: string[]; score: number } | undefined;
  for (const cond of ps.conditions) {
    const keys = cond.values.map((v) => valuePostingKey(ps.type, cond, v));
    if (keys.length === 0 || keys.some((k) => k === undefined)) continue;
    const score = selectivity(cond);
    if (!best || score > best.score) best = { cond, keys: keys as string[], score };
  }
  if (!best) return { keys: [typeKey(ps.type)] };
  return { keys: best.keys, driver: best.cond };
}

