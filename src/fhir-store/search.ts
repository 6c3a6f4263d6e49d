/**
 * Search over the resources of one tenant: candidates come from the posting lists (postings.ts) of the plan's driving
 * parameter (search-params.ts), or by id, and every candidate is re-checked against the whole search. Every search is
 * bounded: by a scan budget per page, by a limit on sorted and counted matches, and by a limit on included resources.
 */
import type { Collection } from 'mongodb';
import type { Resource } from '@medplum/fhirtypes';
import { FhirError, tooCostly } from './errors.js';
import type { PostingIndex } from './postings.js';
import { searchKeys } from './search-keys.js';
import { matchesAll, planScan, valueMatches, type IncludeSpec, type ParsedSearch, type ParseOptions } from './search-params.js';
import { paramDef, typeDef } from './resource-types.js';
import { currentKey, decode, ID_RE, tenantPostingKey, type CurrentDoc, type StoredDoc } from './stored-docs.js';

export interface SearchPage<T extends Resource = Resource> {
  matches: T[];
  included: Resource[];
  total?: number;
  /** Opaque cursor of the next page; undefined at the end. */
  next?: string;
  /** Offset of this page's first match (for `previous` links). */
  offset: number;
}

/** What a search reads (the FHIR storage shared by all tenants provides it). */
interface SearchSource {
  readonly postings: PostingIndex;
  current(type: string): Collection<StoredDoc>;
  parse(type: string, params: Record<string, string | string[] | undefined>, opts?: ParseOptions): ParsedSearch;
}

/** Limits that keep every search bounded. */
const SCAN_BUDGET = 5_000; // candidates examined per page
const SORT_LIMIT = 2_000; // matches sorted in memory
const COUNT_LIMIT = 10_000; // candidates examined for _summary=count
const INCLUDE_LIMIT = 500; // included resources per page
const REVINCLUDE_PER_MATCH = 100;

const LOAD_CONCURRENCY = 64;
const MAX_IDS = 1000;

interface Cursor {
  /** index into the plan's keys */
  k: number;
  /** slot */
  s: number;
  /** position inside the slot's id list */
  o: number;
  /** offset (number of matches before this page) */
  n: number;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.k}.${c.s}.${c.o}.${c.n}`).toString('base64url');
}

function decodeCursor(s: string): Cursor {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(Buffer.from(s, 'base64url').toString('utf8'));
  if (!m) throw new FhirError(400, 'invalid', 'Invalid paging cursor');
  return { k: Number(m[1]), s: Number(m[2]), o: Number(m[3]), n: Number(m[4]) };
}

/** The searches of one tenant: they find only resources stored under that tenant's keys. */
export class TenantSearch {
  constructor(
    private readonly source: SearchSource,
    private readonly tenant: string,
  ) {}

  /** Loads current documents by id, in parallel with bounded concurrency, preserving order. */
  private async loadMany(type: string, ids: string[]): Promise<(CurrentDoc | null)[]> {
    const col = this.source.current(type);
    const out: (CurrentDoc | null)[] = new Array(ids.length).fill(null);
    for (let i = 0; i < ids.length; i += LOAD_CONCURRENCY) {
      const chunk = ids.slice(i, i + LOAD_CONCURRENCY);
      const docs = await Promise.all(chunk.map((id) => col.findOne({ _id: currentKey(this.tenant, id) })));
      docs.forEach((d, j) => (out[i + j] = d && !d.deleted ? decode(d, true) : null));
    }
    return out;
  }

  /**
   * One page of a search. Paging is by cursor (position in the driving posting list) for unsorted searches and by
   * offset for sorted ones (sorting happens in memory over at most SORT_LIMIT matches).
   */
  async searchPage<T extends Resource>(ps: ParsedSearch): Promise<SearchPage<T>> {
    if (ps.conditions.some((c) => c.values.length === 0)) return { matches: [], included: [], total: 0, offset: 0 };
    if (ps.summaryCount) return { matches: [], included: [], total: await this.count(ps), offset: 0 };
    let page: SearchPage<T>;
    if (ps.ids) page = await this.searchByIds<T>(ps);
    else if (ps.sort.length > 0) page = await this.searchSorted<T>(ps);
    else page = await this.searchScan<T>(ps);
    page.included = await this.includes(ps, page.matches);
    return page;
  }

  private async searchByIds<T extends Resource>(ps: ParsedSearch): Promise<SearchPage<T>> {
    const ids = [...new Set(ps.ids)].slice(0, MAX_IDS);
    const docs = await this.loadMany(ps.type, ids);
    let matches = docs.filter((d): d is CurrentDoc => !!d && !d.deleted && matchesAll(ps, d));
    if (ps.sort.length > 0) matches = sortDocs(matches, ps);
    return inMemoryPage<T>(matches, ps);
  }

  /** Scans the driving posting list(s) from a position, filtering candidates, until `want` matches or the budget. */
  private async scan(
    ps: ParsedSearch,
    from: Cursor,
    want: number,
    budget: number,
    /** Stop as soon as `want` matches are found (no cursor for a next page is needed). */
    stopAtWant = false,
  ): Promise<{ matches: CurrentDoc[]; next?: Cursor; end: boolean; examined: number }> {
    const plan = planScan(ps);
    const matches: CurrentDoc[] = [];
    const seen = new Set<string>();
    let examined = 0;
    let pos: Cursor = { ...from };
    // One match wanted and nothing after it (searchOne): the first slot alone usually answers (found, or no list).
    let slotsPerRead = stopAtWant && want === 1 ? 1 : 8;
    while (pos.k < plan.keys.length) {
      const key = plan.keys[pos.k];
      const { slots, end } = await this.source.postings.read(tenantPostingKey(this.tenant, key), pos.s, slotsPerRead);
      slotsPerRead = 8;
      for (const slot of slots) {
        const startO = slot.slot === pos.s ? pos.o : 0;
        const ids = slot.ids.slice(startO);
        const docs = await this.loadMany(ps.type, ids);
        for (let i = 0; i < ids.length; i++) {
          const position: Cursor = { k: pos.k, s: slot.slot, o: startO + i, n: 0 };
          if (matches.length >= want || examined >= budget) return { matches, next: position, end: false, examined };
          examined++;
          const d = docs[i];
          if (!d || d.deleted || seen.has(d._id) || !matchesAll(ps, d)) continue;
          // OR alternatives: a resource matching an earlier alternative was already returned from its list
          if (plan.driver && pos.k > 0 && plan.driver.values.slice(0, pos.k).some((v) => valueMatches(plan.driver!, v, d))) continue;
          seen.add(d._id);
          matches.push(d);
        }
        if (stopAtWant && matches.length >= want) return { matches, end: false, examined };
      }
      if (end) pos = { k: pos.k + 1, s: 0, o: 0, n: 0 };
      else {
        const last = slots[slots.length - 1];
        pos = { k: pos.k, s: last.slot + 1, o: 0, n: 0 };
      }
    }
    return { matches, end: true, examined };
  }

  private async searchScan<T extends Resource>(ps: ParsedSearch): Promise<SearchPage<T>> {
    let from: Cursor = { k: 0, s: 0, o: 0, n: 0 };
    let offset = ps.offset;
    let positional = false;
    if (ps.cursor?.startsWith('o')) offset = cursorOffset(ps);
    else if (ps.cursor) {
      from = decodeCursor(ps.cursor);
      offset = from.n;
      positional = true;
    }
    if (!positional && offset > 0) {
      // offset paging (previous links): skip matches from the start
      if (offset > SORT_LIMIT * 5) throw tooCostly(`_offset ${offset} is too large; use the next links`);
      const skipped = await this.scan(ps, from, offset, SCAN_BUDGET * 10);
      if (!skipped.next) return { matches: [], included: [], offset, total: skipped.matches.length };
      from = skipped.next;
    }
    if (ps.count === 0) {
      return { matches: [], included: [], offset };
    }
    const r = await this.scan(ps, from, ps.count, SCAN_BUDGET);
    const page: SearchPage<T> = { matches: r.matches.map((d) => d.r as T), included: [], offset };
    if (r.next) page.next = encodeCursor({ ...r.next, n: offset + r.matches.length });
    else if (r.end) page.total = offset + r.matches.length;
    return page;
  }

  private async searchSorted<T extends Resource>(ps: ParsedSearch): Promise<SearchPage<T>> {
    const r = await this.scan(ps, { k: 0, s: 0, o: 0, n: 0 }, SORT_LIMIT + 1, SCAN_BUDGET * 4);
    if (!r.end || r.matches.length > SORT_LIMIT) {
      throw tooCostly(`Sorting is limited to ${SORT_LIMIT} matches; narrow the search or search without _sort`);
    }
    return inMemoryPage<T>(sortDocs(r.matches, ps), ps);
  }

  /** Exact number of matches (bounded by COUNT_LIMIT examined candidates). */
  async count(ps: ParsedSearch): Promise<number> {
    if (ps.ids) {
      const docs = await this.loadMany(ps.type, [...new Set(ps.ids)].slice(0, MAX_IDS));
      return docs.filter((d) => !!d && !d.deleted && matchesAll(ps, d)).length;
    }
    const r = await this.scan(ps, { k: 0, s: 0, o: 0, n: 0 }, Number.MAX_SAFE_INTEGER, COUNT_LIMIT);
    if (!r.end) throw tooCostly(`Counting is limited to ${COUNT_LIMIT} candidates; narrow the search`);
    return r.matches.length;
  }

  private async includes(ps: ParsedSearch, matches: Resource[]): Promise<Resource[]> {
    if (matches.length === 0 || (ps.include.length === 0 && ps.revinclude.length === 0)) return [];
    const have = new Set(matches.map((m) => `${m.resourceType}/${m.id}`));
    const out: Resource[] = [];
    const add = (r: Resource | undefined) => {
      if (!r || out.length >= INCLUDE_LIMIT) return;
      const key = `${r.resourceType}/${r.id}`;
      if (have.has(key)) return;
      have.add(key);
      out.push(r);
    };
    for (const inc of ps.include) {
      const refs = new Set<string>();
      for (const m of matches) {
        for (const ref of referencesOf(m, inc)) refs.add(ref);
      }
      const wanted = [...refs].filter((r) => !have.has(r)).slice(0, INCLUDE_LIMIT);
      const loaded = await Promise.all(
        wanted.map(async (ref) => {
          const [t, id] = ref.split('/');
          if (!typeDef(t) || !ID_RE.test(id ?? '')) return undefined;
          const stored = await this.source.current(t).findOne({ _id: currentKey(this.tenant, id) });
          const d = stored ? decode(stored) : undefined;
          return d && !d.deleted ? d.r : undefined;
        }),
      );
      loaded.forEach(add);
    }
    for (const rev of ps.revinclude) {
      const def = paramDef(rev.sourceType, rev.param);
      if (!def) continue;
      const baseParam = def.aliasOf ?? def.name;
      for (const m of matches) {
        if (out.length >= INCLUDE_LIMIT) break;
        if (def.targets && def.targets.length > 0 && !def.targets.includes(m.resourceType)) continue;
        const ref = `${m.resourceType}/${m.id}`;
        const sub = this.source.parse(rev.sourceType, { [baseParam]: ref, _count: String(REVINCLUDE_PER_MATCH) });
        const page = await this.searchScan(sub);
        page.matches.forEach(add);
      }
    }
    return out;
  }

  /** Search returning up to `_count` (default 1000 here) matches; for the engine's own modules. */
  async search<T extends Resource>(
    type: string,
    params: Record<string, string | string[]>,
  ): Promise<{ resources: T[]; total?: number; included?: Resource[] }> {
    const ps = this.source.parse(type, { _count: '1000', ...params });
    if (ps.unknown.length > 0) throw new FhirError(400, 'not-supported', `Unknown search parameter(s) for ${type}: ${ps.unknown.join(', ')}`);
    if (ps.summaryCount) return { resources: [], total: await this.count(ps) };
    const want = ps.count;
    const resources: T[] = [];
    const included: Resource[] = [];
    let total: number | undefined;
    for (let guard = 0; guard < 100; guard++) {
      const page = await this.searchPage<T>({ ...ps, count: want - resources.length });
      resources.push(...page.matches);
      included.push(...page.included);
      total = page.total;
      if (!page.next || resources.length >= want) break;
      ps.cursor = page.next;
      ps.offset = 0;
    }
    return { resources, total, ...(included.length > 0 ? { included } : {}) };
  }

  /** The first match of a search, if any. */
  async searchOne<T extends Resource>(type: string, params: Record<string, string | string[]>): Promise<T | undefined> {
    const ps = this.source.parse(type, { ...params, _count: '1' });
    if (ps.unknown.length > 0 || ps.summaryCount || ps.ids || ps.sort.length > 0 || ps.cursor || ps.offset > 0 || ps.conditions.some((c) => c.values.length === 0)) {
      const { resources } = await this.search<T>(type, { ...params, _count: '1' });
      return resources[0];
    }
    const r = await this.scan(ps, { k: 0, s: 0, o: 0, n: 0 }, 1, SCAN_BUDGET, true);
    if (r.matches.length > 0 || r.end) return r.matches[0]?.r as T | undefined;
    return (await this.search<T>(type, { ...params, _count: '1' })).resources[0]; // past one page's scan budget
  }
}

/** The offset a page starts at: from an offset cursor (`o<n>`, the next/previous links of in-memory pages) or _offset. */
function cursorOffset(ps: ParsedSearch): number {
  return ps.cursor?.startsWith('o') ? Number(ps.cursor.slice(1)) || 0 : ps.offset;
}

/** One page of matches held in memory (searches by _id, sorted searches), with an offset cursor for the next page. */
function inMemoryPage<T extends Resource>(matches: CurrentDoc[], ps: ParsedSearch): SearchPage<T> {
  const offset = cursorOffset(ps);
  return {
    matches: matches.slice(offset, offset + ps.count).map((d) => d.r as T),
    included: [],
    total: matches.length,
    offset,
    next: offset + ps.count < matches.length ? `o${offset + ps.count}` : undefined,
  };
}

/** References of a resource for an include spec ("Type/id" strings, restricted to the target type). */
function referencesOf(resource: Resource, inc: IncludeSpec): string[] {
  const def = paramDef(inc.sourceType, inc.param);
  if (!def) return [];
  const baseParam = def.aliasOf ?? def.name;
  const keys = searchKeys(resource).s[baseParam] ?? [];
  const allowed = inc.targetType ? [inc.targetType] : def.aliasOf ? def.targets : undefined;
  return keys.filter((k) => /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(k) && (!allowed || allowed.includes(k.split('/')[0])));
}

function sortValue(d: CurrentDoc, field: string, desc: boolean): number | string {
  if (field === '_lastUpdated') return d.lu;
  if (field === '_id') return d._id;
  const ranges = d.d?.[field] ?? [];
  if (ranges.length === 0) return desc ? -Infinity : Infinity; // missing values last
  return desc ? Math.max(...ranges.map((r) => r.h)) : Math.min(...ranges.map((r) => r.l));
}

function sortDocs(docs: CurrentDoc[], ps: ParsedSearch): CurrentDoc[] {
  return [...docs].sort((a, b) => {
    for (const s of ps.sort) {
      const va = sortValue(a, s.field, s.desc);
      const vb = sortValue(b, s.field, s.desc);
      if (va < vb) return s.desc ? 1 : -1;
      if (va > vb) return s.desc ? -1 : 1;
    }
    return a._id < b._id ? -1 : a._id > b._id ? 1 : 0;
  });
}
