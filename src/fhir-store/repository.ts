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
import { randomUUID } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import type { Resource } from '@medplum/fhirtypes';
import { InsertBatcher } from '../platform/db/insert-batcher.js';
import { isDuplicateKey } from '../platform/db/mongo.js';
import { assertTenantId } from '../platform/tenancy/tenant.js';
import { bulkLoad } from './bulk-load.js';
import { conditionalCreate } from './conditional-create.js';
import { conflict, FhirError, gone, notFound, notSupported, preconditionFailed } from './errors.js';
import { PostingIndex, type PostingDoc } from './postings.js';
import { currentCollectionName, HISTORY_COLLECTION, SEARCH_INDEX_COLLECTION, typeDef } from './resource-types.js';
import { TenantSearch, type SearchPage } from './search.js';
import { postingKeys, searchKeys, type SearchKeys } from './search-keys.js';
import { parseSearch, type ParsedSearch, type ParseOptions } from './search-params.js';
import {
  currentKey,
  decode,
  encode,
  historyKey,
  ID_RE,
  tenantPostingKey,
  withTenantTag,
  type CurrentDoc,
  type HistoryDoc,
  type StoredDoc,
} from './stored-docs.js';
import { assertValid } from './validation.js';

/**
 * Collections of stored resources: a property whose value is `undefined` is left out of the document, as JSON text
 * leaves it out (the driver would otherwise store it as null, which FHIR forbids).
 */
const RESOURCE_COLLECTION = { ignoreUndefined: true } as const;

interface HistoryEntry<T extends Resource = Resource> {
  versionId: string;
  lastUpdated: string;
  deleted: boolean;
  resource?: T;
}

interface RepositoryOptions {
  /** Public base URL of the FHIR API (absolute references to it are normalised to Type/id). */
  baseUrl?: string;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * The storage shared by all tenants: collections, group-commit batchers and the posting index. It
 * reads and writes nothing itself; `forTenant` gives the repository of one tenant.
 */
export class FhirStorage {
  readonly history$: Collection<HistoryDoc>;
  readonly postings: PostingIndex;
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
  private readonly searches: TenantSearch;

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
    this.searches = new TenantSearch(storage, tenant);
  }

  /** Stored key of a current document. */
  private key(id: string): string {
    return currentKey(this.tenant, id);
  }

  /** A posting key of this tenant. */
  private pk(key: string): string {
    return tenantPostingKey(this.tenant, key);
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
    return historyKey(this.tenant, type, id, v);
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

  /** Bulk load of new resources (no previous versions), for seeding and benchmarks. */
  async bulkLoad(resources: Resource[], opts: { validate?: boolean; history?: boolean; skipExisting?: boolean } = {}): Promise<number> {
    return bulkLoad(this.storage, this.tenant, resources, opts);
  }

  // ---------------------------------------------------------------- search

  parse(type: string, params: Record<string, string | string[] | undefined>, opts: ParseOptions = {}): ParsedSearch {
    return this.storage.parse(type, params, opts);
  }

  /** One page of a search (`next` is the cursor of the next page). */
  async searchPage<T extends Resource>(ps: ParsedSearch): Promise<SearchPage<T>> {
    return this.searches.searchPage<T>(ps);
  }

  /** Exact number of matches (bounded: too costly a count is refused). */
  async count(ps: ParsedSearch): Promise<number> {
    return this.searches.count(ps);
  }

  /** Search returning up to `_count` (default 1000 here) matches; for the engine's own modules. */
  async search<T extends Resource>(
    type: string,
    params: Record<string, string | string[]>,
  ): Promise<{ resources: T[]; total?: number; included?: Resource[] }> {
    return this.searches.search<T>(type, params);
  }

  /** The first match of a search, if any. */
  async searchOne<T extends Resource>(type: string, params: Record<string, string | string[]>): Promise<T | undefined> {
    return this.searches.searchOne<T>(type, params);
  }

  /** Conditional create (If-None-Exist): no match → create (201); one match → that resource (200); several → 412. */
  async conditionalCreate<T extends Resource>(resource: T, query: Record<string, string | string[]>): Promise<{ resource: T; created: boolean }> {
    return conditionalCreate(this, this.db, resource, query);
  }
}
