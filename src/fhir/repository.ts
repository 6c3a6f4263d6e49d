/**
 * The FHIR repository: the one place FHIR resources are stored (ctx.fhir). Versioned, validated, searchable.
 *
 * Storage (docs/storage.md), every key prefixed by the tenant that owns the resource:
 *   fhir_<Type>        current version per resource: {_id: "<tenant>|<id>", v, lu, deleted?, resource}
 *   fhir_history       every version: {_id: "<tenant>|<Type>/<id>/<v>", t, id, v, lu, deleted?, resource}
 *   fhir_search_index  posting lists: {_id: "<tenant>|<Type>|<param>|<value>#<slot>", r: [ids]} (postings.ts)
 * `resource` is the FHIR resource as a BSON sub-document (queryable with MongoDB's own tools). Documents written
 * before that hold it as JSON text in `j` instead; both are read, and a current document gets the `resource` form
 * with its next version.
 *
 * Tenancy by construction: a `FhirRepository` is bound to one tenant (`FhirStorage.forTenant`) and can only form keys
 * of that tenant, so another tenant's resource is simply not found (404), in reads, searches, includes and history
 * alike. The same id may exist in two tenants as two resources. Every stored version carries the tenant in
 * `meta.tag` (system urn:hl7-engine:tenant), set by the repository whatever the client sent.
 *
 * Every operation is an exact `_id` lookup or a unique `_id` insert. Concurrency without transactions or atomic
 * updates: a write of version n+1 first inserts history "<Type>/<id>/<n+1>"; the unique `_id` makes exactly one
 * writer win each version number (the loser retries, or gets 412 when it asked for If-Match, or 409 on create).
 * The current document is then replaced and the writer checks that no newer version appeared meanwhile, replacing
 * again with the newest if one did, so the current document always converges to the latest history entry and no
 * update is lost. Posting keys are added before the history insert, so a visible version is always findable.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { claimWithTakeover, releaseClaim } from '../db/claims.js';
import { InsertBatcher } from '../db/insert-batcher.js';
import { AuditLog } from './audit.js';
import { conflict, FhirError, gone, notFound, notSupported, preconditionFailed, tooCostly } from './errors.js';
import { PostingIndex, type PostingDoc } from './postings.js';
import { postingKeys, searchKeys, type SearchKeys } from './search-keys.js';
import {
  matchesAll,
  parseSearch,
  planScan,
  valueMatches,
  type IncludeSpec,
  type ParsedSearch,
  type ParseOptions,
} from './search-params.js';
import { currentCollectionName, HISTORY_COLLECTION, paramDef, SEARCH_INDEX_COLLECTION, typeDef } from './types.js';
import { assertValid } from './validation.js';
import { isDuplicateKey } from '../db/mongo.js';
import { assertTenantId, TENANT_TAG_SYSTEM } from '../tenancy/tenant.js';

/** A version as used in memory: the resource and (for matching) its search keys. Stored as `StoredDoc`. */
export interface CurrentDoc extends Partial<SearchKeys> {
  _id: string;
  v: number;
  lu: number;
  deleted?: true;
  r?: Resource;
}

export interface StoredDoc {
  _id: string;
  v: number;
  lu: number;
  deleted?: true;
  /** The resource, as a sub-document. */
  resource?: Resource;
  /** The resource as JSON text: documents written before `resource` (read only). */
  j?: string;
}

export interface HistoryDoc extends StoredDoc {
  t: string;
  id: string;
}

/** The resource id of a stored key `<tenant>|<id>`. */
function idOfKey(key: string): string {
  return key.slice(key.indexOf('|') + 1);
}

/** Stored → in memory (`_id` is the resource id); search keys only when asked (needed for matching, not reads). */
function decode(d: StoredDoc, keys = false): CurrentDoc {
  const out: CurrentDoc = { _id: idOfKey(d._id), v: d.v, lu: d.lu };
  if (d.deleted) out.deleted = true;
  const r = d.resource ?? (d.j !== undefined ? (JSON.parse(d.j) as Resource) : undefined);
  if (r) {
    out.r = r;
    if (keys) Object.assign(out, searchKeys(r));
  }
  return out;
}

function encode(key: string, d: { v: number; lu: number; deleted?: true; r?: Resource }): StoredDoc {
  const out: StoredDoc = { _id: key, v: d.v, lu: d.lu };
  if (d.deleted) out.deleted = true;
  if (d.r) out.resource = d.r;
  return out;
}

/**
 * Collections of stored resources: a property whose value is `undefined` is left out of the document, as JSON text
 * leaves it out (the driver would otherwise store it as null, which FHIR forbids).
 */
const RESOURCE_COLLECTION = { ignoreUndefined: true } as const;

export interface HistoryEntry<T extends Resource = Resource> {
  versionId: string;
  lastUpdated: string;
  deleted: boolean;
  resource?: T;
}

export interface SearchPage<T extends Resource = Resource> {
  matches: T[];
  included: Resource[];
  total?: number;
  /** Opaque cursor of the next page; undefined at the end. */
  next?: string;
  /** Offset of this page's first match (for `previous` links). */
  offset: number;
}

/** Limits that keep every search bounded. */
export const SCAN_BUDGET = 5_000; // candidates examined per page
export const SORT_LIMIT = 2_000; // matches sorted in memory
export const COUNT_LIMIT = 10_000; // candidates examined for _summary=count
export const INCLUDE_LIMIT = 500; // included resources per page
export const REVINCLUDE_PER_MATCH = 100;

const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
const LOAD_CONCURRENCY = 64;

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

/** The resource with the tenant tag as its only tag of that system. */
function withTenantTag<T extends Resource>(r: T, tenant: string): T {
  const tags = (r.meta?.tag ?? []).filter((t) => t.system !== TENANT_TAG_SYSTEM);
  return { ...r, meta: { ...(r.meta ?? {}), tag: [...tags, { system: TENANT_TAG_SYSTEM, code: tenant }] } };
}

export interface RepositoryOptions {
  /** Public base URL of the FHIR API (absolute references to it are normalised to Type/id). */
  baseUrl?: string;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * The storage shared by all tenants: collections, group-commit batchers, the posting index and the audit log. It
 * reads and writes nothing itself; `forTenant` gives the repository of one tenant.
 */
export class FhirStorage {
  readonly history$: Collection<HistoryDoc>;
  readonly postings: PostingIndex;
  /** AuditEvents of reads and searches, each written into the tenant of the request it records. */
  readonly audit: AuditLog;
  readonly now: () => number;
  /** Group commit of history inserts (unique `_id`: each document still wins or loses on its own). */
  readonly historyInserts: InsertBatcher<HistoryDoc>;
  /** Group commit of first current documents (creates), per type. */
  private readonly currentInserts = new Map<string, InsertBatcher<StoredDoc>>();
  private readonly tenants = new Map<string, FhirRepository>();

  constructor(
    readonly db: Db,
    readonly options: RepositoryOptions = {},
  ) {
    this.history$ = db.collection<HistoryDoc>(HISTORY_COLLECTION, RESOURCE_COLLECTION);
    this.postings = new PostingIndex(db.collection<PostingDoc>(SEARCH_INDEX_COLLECTION));
    this.now = options.now ?? Date.now;
    this.audit = new AuditLog((tenant) => this.forTenant(tenant));
    this.historyInserts = new InsertBatcher(this.history$);
  }

  /** The repository of one tenant (instances are kept: they hold no state of their own). */
  forTenant(tenant: string): FhirRepository {
    let repo = this.tenants.get(tenant);
    if (!repo) {
      repo = new FhirRepository(this, assertTenantId(tenant));
      if (this.tenants.size < 10_000) this.tenants.set(tenant, repo);
    }
    return repo;
  }

  currentInsert(type: string, doc: StoredDoc): Promise<void> {
    let b = this.currentInserts.get(type);
    if (!b) this.currentInserts.set(type, (b = new InsertBatcher(this.current(type))));
    return b.insert(doc);
  }

  current(type: string): Collection<StoredDoc> {
    if (!typeDef(type)) throw notSupported(`Resource type ${type} is not supported`);
    return this.db.collection<StoredDoc>(currentCollectionName(type), RESOURCE_COLLECTION);
  }

  /** Writes queued AuditEvents (call before closing the database). */
  async close(): Promise<void> {
    await this.audit.flush();
  }


  parse(type: string, params: Record<string, string | string[] | undefined>, opts: ParseOptions = {}): ParsedSearch {
    return parseSearch(type, params, { baseUrl: this.options.baseUrl, ...opts });
  }
}

export class FhirRepository {
  private readonly db: Db;
  private readonly history$: Collection<HistoryDoc>;
  private readonly postings: PostingIndex;
  private readonly now: () => number;
  private readonly historyInserts: InsertBatcher<HistoryDoc>;

  constructor(
    private readonly storage: FhirStorage,
    /** The tenant whose resources this repository reads and writes. */
    readonly tenant: string,
  ) {
    this.db = storage.db;
    this.history$ = storage.history$;
    this.postings = storage.postings;
    this.now = storage.now;
    this.historyInserts = storage.historyInserts;
  }

  /** Stored key of a current document. */
  private key(id: string): string {
    return `${this.tenant}|${id}`;
  }

  /** A posting key of this tenant. */
  private pk(key: string): string {
    return `${this.tenant}|${key}`;
  }

  private currentInsert(type: string, doc: StoredDoc): Promise<void> {
    return this.storage.currentInsert(type, doc);
  }

  private current(type: string): Collection<StoredDoc> {
    return this.storage.current(type);
  }

  private async findCurrent(type: string, id: string, keys = false): Promise<CurrentDoc | undefined> {
    const d = await this.current(type).findOne({ _id: this.key(id) });
    return d ? decode(d, keys) : undefined;
  }

  private async findHistory(type: string, id: string, v: number): Promise<CurrentDoc | undefined> {
    const d = await this.history$.findOne({ _id: this.hid(type, id, v) });
    return d ? { ...decode(d), _id: id } : undefined;
  }

  private hid(type: string, id: string, v: number): string {
    return `${this.tenant}|${type}/${id}/${v}`;
  }

  private checkId(type: string, id: string): void {
    if (!typeDef(type)) throw new FhirError(404, 'not-supported', `Resource type ${type} is not supported`);
    if (!ID_RE.test(id)) throw new FhirError(400, 'invalid', `Invalid resource id "${id.slice(0, 80)}"`);
  }

  // ---------------------------------------------------------------- reads

  /**
   * The stored current document (tombstones included), after repairing a lagging current version. `repair: false`
   * skips the repair's history lookup when there is no current document: for a caller that creates the resource when
   * it is absent, whose create then fails (409) if a writer stopped after its history insert, and reads again with
   * repair.
   */
  async readStored(type: string, id: string, opts: { repair?: boolean } = {}): Promise<CurrentDoc | undefined> {
    this.checkId(type, id);
    const cur = await this.findCurrent(type, id);
    if (cur || opts.repair === false) return cur;
    // A writer may have stopped between its history insert and the current write: repair.
    const first = await this.findHistory(type, id, 1);
    if (!first) return undefined;
    return this.converge(type, id, first);
  }

  async read<T extends Resource>(type: string, id: string, opts: { repair?: boolean } = {}): Promise<T> {
    const doc = await this.readStored(type, id, opts);
    if (!doc) throw notFound(type, id);
    if (doc.deleted) throw gone(type, id);
    return doc.r as T;
  }

  async vread<T extends Resource>(type: string, id: string, versionId: string): Promise<T> {
    this.checkId(type, id);
    if (!/^[1-9]\d{0,9}$/.test(versionId)) throw notFound(type, `${id}/_history/${versionId}`);
    const v = Number(versionId);
    const h = await this.findHistory(type, id, v);
    if (h) {
      if (h.deleted) throw new FhirError(410, 'deleted', `Version ${versionId} of ${type}/${id} is a deletion`);
      return h.r as T;
    }
    const cur = await this.findCurrent(type, id);
    if (cur && cur.v === v && !cur.deleted) return cur.r as T; // bulk-loaded first versions have no history entry
    if (!cur) throw notFound(type, id);
    throw new FhirError(404, 'not-found', `Version ${versionId} of ${type}/${id} is not known`);
  }

  /** Versions newest first, deletions included, paged. */
  async historyEntries<T extends Resource>(
    type: string,
    id: string,
    page: { offset?: number; count?: number } = {},
  ): Promise<{ entries: HistoryEntry<T>[]; total: number }> {
    const cur = await this.readStored(type, id);
    if (!cur) throw notFound(type, id);
    const latest = await this.latestVersion(type, id, cur.v);
    const offset = page.offset ?? 0;
    const count = Math.min(page.count ?? 50, 1000);
    const versions: number[] = [];
    for (let v = latest - offset; v >= 1 && versions.length < count; v--) versions.push(v);
    const docs = await Promise.all(versions.map((v) => this.findHistory(type, id, v)));
    const entries: HistoryEntry<T>[] = [];
    versions.forEach((v, i) => {
      const h = docs[i] ?? (cur.v === v ? { v, lu: cur.lu, deleted: cur.deleted, r: cur.r } : undefined);
      if (!h) return;
      entries.push({
        versionId: String(v),
        lastUpdated: new Date(h.lu).toISOString(),
        deleted: h.deleted === true,
        resource: h.deleted ? undefined : (h.r as T),
      });
    });
    return { entries, total: latest };
  }

  /** All versions newest first (deleted versions left out). */
  async history<T extends Resource>(type: string, id: string): Promise<T[]> {
    const out: T[] = [];
    for (let offset = 0; ; offset += 1000) {
      const { entries, total } = await this.historyEntries<T>(type, id, { offset, count: 1000 });
      for (const e of entries) if (e.resource) out.push(e.resource);
      if (offset + 1000 >= total) return out;
    }
  }

  private async latestVersion(type: string, id: string, from: number): Promise<number> {
    let v = from;
    while (await this.history$.findOne({ _id: this.hid(type, id, v + 1) }, { projection: { _id: 1 } })) v++;
    return v;
  }

  // ---------------------------------------------------------------- writes

  /** Creates version 1 (409 when the id exists); the unique history insert decides between concurrent creators. */
  async create<T extends Resource>(resource: T, opts: { id?: string } = {}): Promise<T> {
    const type = resource?.resourceType;
    if (!type || !typeDef(type)) throw new FhirError(422, 'not-supported', `Resource type ${String(type)} is not supported`);
    const id = opts.id ?? randomUUID();
    this.checkId(type, id);
    const doc = await this.commit(type, id, () => ({ ...resource, id }), { mustNotExist: true });
    return doc.r as T;
  }

  async update<T extends Resource>(resource: T, opts: { ifMatchVersion?: string } = {}): Promise<T> {
    const type = resource?.resourceType;
    if (!type || !typeDef(type)) throw new FhirError(422, 'not-supported', `Resource type ${String(type)} is not supported`);
    if (!resource.id) throw new FhirError(400, 'required', 'Resource id is required for update');
    this.checkId(type, resource.id);
    const doc = await this.commit(type, resource.id, () => ({ ...resource }), { ifMatch: opts.ifMatchVersion });
    return doc.r as T;
  }

  /** Deletes (a tombstone version); a no-op for unknown or already deleted resources. */
  async delete(type: string, id: string, opts: { ifMatchVersion?: string } = {}): Promise<void> {
    this.checkId(type, id);
    await this.commit(type, id, () => undefined, { ifMatch: opts.ifMatchVersion, isDelete: true });
  }

  private async commit(
    type: string,
    id: string,
    build: () => Resource | undefined,
    opts: { ifMatch?: string; mustNotExist?: boolean; isDelete?: boolean },
  ): Promise<CurrentDoc> {
    let prepared: Resource | undefined;
    if (!opts.isDelete) {
      prepared = build();
      if (prepared) {
        const meta = { ...(prepared.meta ?? {}) };
        delete meta.versionId;
        delete meta.lastUpdated;
        prepared = withTenantTag({ ...prepared, id, meta: { ...meta, versionId: '1', lastUpdated: new Date(0).toISOString() } }, this.tenant);
        assertValid(prepared);
      }
    }
    if (opts.mustNotExist && prepared) {
      // Create: version 1 or nothing, without reading first. The index keys go first (keys of a refused create are
      // harmless: every candidate is re-checked), then the unique history insert decides.
      const lu = this.now();
      const resource = { ...prepared, meta: { ...prepared.meta, versionId: '1', lastUpdated: new Date(lu).toISOString() } } as Resource;
      const keys = searchKeys(resource);
      await this.postings.append(new Map(postingKeys(type, keys).map((k) => [this.pk(k), [id]])));
      try {
        await this.historyInserts.insert({ _id: this.hid(type, id, 1), t: type, id, v: 1, lu, resource });
      } catch (err) {
        if (isDuplicateKey(err)) throw conflict(`Resource ${type}/${id} already exists`);
        throw err;
      }
      // The current document is inserted, not replaced: when it already exists, whoever wrote it (a reader repairing
      // from our history entry, or a writer of version 2 on top of ours, which converges itself) wrote a version at
      // least as new as ours. The one exception is a version 1 without history (bulkLoad without history) at this
      // id: then the resource existed before, and our history entry is taken back.
      try {
        await this.currentInsert(type, { _id: this.key(id), v: 1, lu, resource });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const cur = await this.findCurrent(type, id);
        if (cur?.v === 1 && cur.lu !== lu) {
          await this.history$.deleteOne({ _id: this.hid(type, id, 1), lu });
          throw conflict(`Resource ${type}/${id} already exists`);
        }
      }
      return { _id: id, v: 1, lu, r: resource, ...keys };
    }
    for (let attempt = 0; attempt < 25; attempt++) {
      const cur = await this.findCurrent(type, id);
      let latest = cur?.v ?? 0;
      let latestDoc: CurrentDoc | undefined = cur;
      // The current document may lag behind history (a writer between its history insert and its replace). A first
      // update attempt trusts an existing current document: if it lags, the history insert of latest+1 fails
      // (duplicate) and the next attempt looks for newer versions (with If-Match the answer is then 412, which is
      // right: the version is not current). Deletes, and writes that find no current document, always look.
      for (; attempt > 0 || !cur || opts.isDelete; ) {
        const h = await this.findHistory(type, id, latest + 1);
        if (!h) break;
        latest = h.v;
        latestDoc = h;
      }
      if (opts.mustNotExist && latest > 0) throw conflict(`Resource ${type}/${id} already exists`);
      if (opts.ifMatch !== undefined && String(latest) !== opts.ifMatch) {
        throw preconditionFailed(`Version ${opts.ifMatch} of ${type}/${id} is not the current version (${latest || 'none'})`);
      }
      if (opts.isDelete && (!latestDoc || latestDoc.deleted)) return latestDoc as CurrentDoc;
      const v = latest + 1;
      const lu = Math.max(this.now(), (latestDoc?.lu ?? 0) + 1);
      let resource: Resource | undefined;
      let keys: SearchKeys | undefined;
      if (prepared) {
        resource = { ...prepared, meta: { ...prepared.meta, versionId: String(v), lastUpdated: new Date(lu).toISOString() } };
        keys = searchKeys(resource);
        const oldKeys = latestDoc?.r && !latestDoc.deleted ? new Set(postingKeys(type, searchKeys(latestDoc.r))) : new Set<string>();
        const add = new Map<string, string[]>();
        for (const k of postingKeys(type, keys)) if (!oldKeys.has(k)) add.set(this.pk(k), [id]);
        await this.postings.append(add);
      }
      const h: HistoryDoc = { _id: this.hid(type, id, v), t: type, id, v, lu };
      if (resource) h.resource = resource;
      else h.deleted = true;
      try {
        await this.historyInserts.insert(h);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        if (opts.mustNotExist) throw conflict(`Resource ${type}/${id} already exists`);
        if (opts.ifMatch !== undefined) throw preconditionFailed(`${type}/${id} was changed concurrently (version ${opts.ifMatch} is no longer current)`);
        continue; // another writer took version v: start again on top of it
      }
      const doc: CurrentDoc = { _id: id, v, lu };
      if (resource) Object.assign(doc, { r: resource, ...keys });
      else doc.deleted = true;
      await this.converge(type, id, doc);
      return doc;
    }
    throw new FhirError(409, 'conflict', `Too many concurrent writes to ${type}/${id}; try again`);
  }

  /** Writes the current document and makes sure no newer version was committed meanwhile (replacing again if so). */
  private async converge(type: string, id: string, doc: CurrentDoc): Promise<CurrentDoc> {
    const col = this.current(type);
    let target: CurrentDoc = { ...doc, _id: id };
    for (let i = 0; i < 100; i++) {
      try {
        await col.replaceOne({ _id: this.key(id) }, encode(this.key(id), target), { upsert: true });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        continue; // concurrent upsert inserted first: replace again
      }
      const newer = await this.findHistory(type, id, target.v + 1);
      if (!newer) return target;
      let latest = newer;
      for (;;) {
        const h = await this.findHistory(type, id, latest.v + 1);
        if (!h) break;
        latest = h;
      }
      target = latest;
    }
    return target;
  }

  /**
   * Bulk load of new resources (no previous versions): validation optional, ids assigned when missing, one current
   * document per resource, history only when `history` is true, postings batched (one slot per key per batch).
   * Existing ids make the batch fail with a duplicate-key error. For seeding and benchmarks.
   */
  async bulkLoad(resources: Resource[], opts: { validate?: boolean; history?: boolean; skipExisting?: boolean } = {}): Promise<number> {
    const byType = new Map<string, StoredDoc[]>();
    const history: HistoryDoc[] = [];
    const postings = new Map<string, string[]>();
    const lu = this.now();
    for (const r0 of resources) {
      const type = r0.resourceType;
      if (!typeDef(type)) throw new FhirError(422, 'not-supported', `Resource type ${type} is not supported`);
      const id = r0.id ?? randomUUID();
      const r = withTenantTag({ ...r0, id, meta: { ...(r0.meta ?? {}), versionId: '1', lastUpdated: new Date(lu).toISOString() } } as Resource, this.tenant);
      if (opts.validate !== false) assertValid(r);
      const keys = searchKeys(r);
      let list = byType.get(type);
      if (!list) byType.set(type, (list = []));
      list.push({ _id: this.key(id), v: 1, lu, resource: r });
      if (opts.history) history.push({ _id: this.hid(type, id, 1), t: type, id, v: 1, lu, resource: r });
      for (const k of postingKeys(type, keys)) {
        let ids = postings.get(this.pk(k));
        if (!ids) postings.set(this.pk(k), (ids = []));
        ids.push(id);
      }
    }
    const insert = async <D extends { _id: string }>(col: Collection<D>, docs: D[]) => {
      try {
        await col.insertMany(docs as never[], { ordered: false });
      } catch (err) {
        if (!(opts.skipExisting && isDuplicateKey(err))) throw err;
      }
    };
    await this.postings.bulkAdd(postings);
    if (history.length > 0) await insert(this.history$, history);
    for (const [type, docs] of byType) await insert(this.current(type), docs);
    return resources.length;
  }

  // ---------------------------------------------------------------- search

  parse(type: string, params: Record<string, string | string[] | undefined>, opts: ParseOptions = {}): ParsedSearch {
    return this.storage.parse(type, params, opts);
  }

  /** Loads current documents by id, in parallel with bounded concurrency, preserving order. */
  private async loadMany(type: string, ids: string[]): Promise<(CurrentDoc | null)[]> {
    const col = this.current(type);
    const out: (CurrentDoc | null)[] = new Array(ids.length).fill(null);
    for (let i = 0; i < ids.length; i += LOAD_CONCURRENCY) {
      const chunk = ids.slice(i, i + LOAD_CONCURRENCY);
      const docs = await Promise.all(chunk.map((id) => col.findOne({ _id: this.key(id) })));
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
      const { slots, end } = await this.postings.read(this.pk(key), pos.s, slotsPerRead);
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
          const d = await this.findCurrent(t, id);
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
        const sub = this.parse(rev.sourceType, { [baseParam]: ref, _count: String(REVINCLUDE_PER_MATCH) });
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
    const ps = this.parse(type, { _count: '1000', ...params });
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
    const ps = this.parse(type, { ...params, _count: '1' });
    if (ps.unknown.length > 0 || ps.summaryCount || ps.ids || ps.sort.length > 0 || ps.cursor || ps.offset > 0 || ps.conditions.some((c) => c.values.length === 0)) {
      const { resources } = await this.search<T>(type, { ...params, _count: '1' });
      return resources[0];
    }
    const r = await this.scan(ps, { k: 0, s: 0, o: 0, n: 0 }, 1, SCAN_BUDGET, true);
    if (r.matches.length > 0 || r.end) return r.matches[0]?.r as T | undefined;
    return (await this.search<T>(type, { ...params, _count: '1' })).resources[0]; // past one page's scan budget
  }

  /**
   * Conditional create (If-None-Exist): no match → create (201); one match → that resource (200); several → 412.
   *
   * Concurrent conditional creates with the same criteria create one resource: the creator claims
   * `fhir-ine:<Type>:<hash of the criteria>` (unique insert) naming the id it is about to create, and keeps the claim
   * for a few seconds after creating; the others read that id from the claim and answer with the resource it
   * created. A claim whose holder died is taken over after INE_STALE_MS.
   */
  async conditionalCreate<T extends Resource>(resource: T, query: Record<string, string | string[]>): Promise<{ resource: T; created: boolean }> {
    const type = resource.resourceType;
    const ps = this.parse(type, { ...query, _count: '2' });
    if (ps.unknown.length > 0) throw new FhirError(400, 'not-supported', `Unknown search parameter(s) in If-None-Exist: ${ps.unknown.join(', ')}`);
    if (ps.conditions.length === 0 && !ps.ids) throw new FhirError(400, 'invalid', 'If-None-Exist holds no search criteria');
    const existing = async (): Promise<T | undefined> => {
      const page = await this.searchPage<T>({ ...ps });
      if (page.matches.length > 1) throw preconditionFailed('If-None-Exist matches more than one resource');
      return page.matches[0];
    };
    const criteria = Object.entries(query)
      .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${x}`))
      .sort()
      .join('&');
    const key = `fhir-ine:${this.tenant}:${type}:${createHash('sha256').update(criteria).digest('hex')}`;
    const deadline = Date.now() + INE_WAIT_MS;
    for (;;) {
      const found = await existing();
      if (found) return { resource: found, created: false };
      const id = randomUUID();
      const claimed = await claimWithTakeover(this.db, key, INE_STALE_MS, id);
      if (claimed.key !== undefined) {
        const held = claimed.key;
        try {
          const again = await existing(); // a creator that finished just before our claim
          if (again) {
            await releaseClaim(this.db, held);
            return { resource: again, created: false };
          }
          const created = await this.create({ ...resource, id } as T, { id });
          setTimeout(() => void releaseClaim(this.db, held).catch(() => undefined), INE_HOLD_MS).unref();
          return { resource: created, created: true };
        } catch (err) {
          await releaseClaim(this.db, held).catch(() => undefined);
          throw err;
        }
      }
      // Another request is creating (or just created) a resource for the same criteria: answer with it.
      if (claimed.holder.by) {
        const theirs = await this.readStored(type, claimed.holder.by).catch(() => undefined);
        if (theirs?.r && !theirs.deleted && matchesAll(ps, { ...theirs, ...searchKeys(theirs.r) })) return { resource: theirs.r as T, created: false };
      }
      if (Date.now() > deadline) throw conflict('A concurrent conditional create with the same criteria did not finish; try again');
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** A searchset/history Bundle helper shared by HTTP and internal callers. */
  static bundle(type: Bundle['type'], entries: Bundle['entry'], total?: number): Bundle {
    const b: Bundle = { resourceType: 'Bundle', type, entry: entries ?? [] };
    if (total !== undefined) b.total = total;
    return b;
  }
}

const MAX_IDS = 1000;

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
/** Conditional create: how long the creator keeps its claim, when a claim counts as dead, how long others wait. */
const INE_HOLD_MS = 5_000;
const INE_STALE_MS = 30_000;
const INE_WAIT_MS = 10_000;

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

