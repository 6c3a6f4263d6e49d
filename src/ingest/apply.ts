/**
 * Writes what a mapping produced into the FHIR repository, idempotently and without transactions.
 *
 * A mapping returns entries in dependency order (mappings/README.md):
 *   { resource, identity?, update?, fill?, updateIf? }
 * For each entry:
 *   1. read the resource at its deterministic id; when absent and `identity` is given, search by that identifier
 *      (a resource created elsewhere, e.g. through the FHIR API, is reused and later references are rewritten to it);
 *   2. absent → create with the deterministic id (a concurrent creator's 409 → start again from 1);
 *   3. present → unless the message is older than the one that wrote the stored version (source-message extension:
 *      sent time, then received time) or `updateIf` does not hold, merge: `update` fields are replaced ("*" = all,
 *      "+f" = append missing array items), `fill` fields only set when absent; nothing is written when the result
 *      equals the stored resource; else update with If-Match on the version read (412 → start again from 1).
 * Every written version carries the source-message extension (message id, sent, received, message-store id), except
 * Binary, which has no extensions.
 *
 * The decision of 3 is planEntry (no I/O); planMapped runs steps 1 and 3 without writing, for a preview of what a
 * replay would do (messages/preview.ts).
 */
import type { Resource } from '@medplum/fhirtypes';
import { fhirDateTime, instantMs } from '../mapping/functions.js';
import { ENGINE_EXTENSIONS, extensionUrl } from '../lib/fhir-extensions.js';
import { EXTENSIONS, isSourceMessageUrl, LEGACY_EXTENSION_PREFIX } from '../lib/fhir-systems.js';
import { canonicalJson } from '../fhir-store/canonical-json.js';
import { fhirStatus } from '../fhir-store/errors.js';
import type { TenantFhirStore } from '../fhir-store/ports.js';
import { validationIssues } from '../fhir-store/validation.js';
import type { MappedEntry, MappingOutput } from '../mapping/output.js';

/** What ingestion uses of the FHIR repository of one tenant. */
export type FhirStore = Pick<TenantFhirStore, 'tenant' | 'create' | 'read' | 'update' | 'searchOne'>;

export interface SourceInfo {
  /** The sender's id of the message (MsgId, JournalGuid). */
  messageId: string;
  /** When the sender created it (GenDate, MessageTimestamp): FHIR dateTime. */
  sent?: string;
  received: Date;
  /** Our message-store id. */
  storeId: string;
}

export type ApplyAction = 'created' | 'updated' | 'unchanged' | 'skipped_older' | 'skipped_state' | 'kept';

export interface AppliedResource {
  reference: string;
  action: ApplyAction;
  versionId?: string;
}

const MAX_ATTEMPTS = 6;

type Ext = { url: string; extension?: Ext[]; valueString?: string; valueDateTime?: string; valueInstant?: string };

function withoutSource(r: Resource): Record<string, unknown> {
  const { meta: _meta, ...rest } = r as Resource & { extension?: Ext[] };
  const ext = (rest as { extension?: Ext[] }).extension?.filter((e) => !isSourceMessageUrl(e.url));
  const out: Record<string, unknown> = { ...rest };
  if (ext && ext.length > 0) out.extension = ext;
  else delete out.extension;
  return out;
}

function sameContent(a: Resource, b: Resource): boolean {
  return canonicalJson(withoutSource(a)) === canonicalJson(withoutSource(b));
}

export function sourceExtension(src: SourceInfo): Ext {
  const ext: Ext[] = [{ url: 'messageId', valueString: src.messageId }];
  // GenDate and MessageTimestamp are Oslo local time when they carry no zone: written with their offset.
  const sent = fhirDateTime(src.sent);
  if (sent) ext.push({ url: 'sent', valueDateTime: sent });
  ext.push({ url: 'received', valueInstant: src.received.toISOString() });
  ext.push({ url: 'storeId', valueString: src.storeId });
  return { url: EXTENSIONS.sourceMessage, extension: ext };
}

/** Resources without `extension` (not DomainResources) carry no source-message extension. */
const NO_EXTENSION = new Set(['Binary', 'Bundle', 'Parameters']);

export function withSource<T extends Resource>(r: T, src: SourceInfo): T {
  if (NO_EXTENSION.has(r.resourceType)) return r;
  const others = ((r as { extension?: Ext[] }).extension ?? []).filter((e) => !isSourceMessageUrl(e.url));
  return { ...r, extension: [...others, sourceExtension(src)] } as T;
}

/**
 * A stored resource whose engine extensions are in an earlier form, rewritten into the current one: the old
 * `urn:hl7-engine:fhir:extension:<id>` URLs become the canonical ones, and the source-message `sent` gets its Oslo
 * offset (unreadable → left out). The message that wrote the version stays the same. Undefined when already current.
 */
export function upgradeExtensions<T extends Resource>(r: T): T | undefined {
  const list = (r as { extension?: Ext[] }).extension;
  if (!list) return undefined;
  let changed = false;
  const out = list.map((e) => {
    const id = e.url.startsWith(LEGACY_EXTENSION_PREFIX) ? e.url.slice(LEGACY_EXTENSION_PREFIX.length) : undefined;
    const url = id && ENGINE_EXTENSIONS.some((d) => d.id === id) ? extensionUrl(id) : e.url;
    let parts = e.extension;
    if (isSourceMessageUrl(e.url) && parts) {
      parts = parts.flatMap((p) => {
        if (p.url !== 'sent' || p.valueDateTime === undefined) return [p];
        const sent = fhirDateTime(p.valueDateTime);
        return sent ? [{ url: 'sent', valueDateTime: sent }] : [];
      });
    }
    if (url === e.url && JSON.stringify(parts) === JSON.stringify(e.extension)) return e;
    changed = true;
    return { ...e, url, ...(parts ? { extension: parts } : {}) };
  });
  return changed ? ({ ...r, extension: out } as T) : undefined;
}

function storedSource(r: Resource): { messageId?: string; sent: number; received: number } | undefined {
  const ext = (r as { extension?: Ext[] }).extension?.find((e) => isSourceMessageUrl(e.url));
  if (!ext) return undefined;
  const get = (u: string) => ext.extension?.find((e) => e.url === u);
  return {
    messageId: get('messageId')?.valueString,
    sent: instantMs(get('sent')?.valueDateTime),
    received: Date.parse(get('received')?.valueInstant ?? ''),
  };
}

/** True when the incoming message is older than the one that wrote `existing` (then it must not overwrite it). */
function isOlder(existing: Resource, src: SourceInfo): boolean {
  const s = storedSource(existing);
  if (!s || s.messageId === src.messageId) return false;
  const sent = instantMs(src.sent);
  if (!Number.isNaN(sent) && !Number.isNaN(s.sent) && sent !== s.sent) return sent < s.sent;
  const rec = src.received.getTime();
  return !Number.isNaN(s.received) && rec < s.received;
}

function identityKey(v: unknown): string {
  const o = v as { system?: string; value?: string };
  if (o && typeof o === 'object' && typeof o.value === 'string' && ('system' in o || 'type' in o)) {
    return `${o.system ?? canonicalJson((o as { type?: unknown }).type)}|${o.value}`;
  }
  return canonicalJson(v);
}

function appendUnique(existing: unknown, incoming: unknown): unknown {
  const a = Array.isArray(existing) ? [...existing] : existing === undefined ? [] : [existing];
  const seen = new Set(a.map(identityKey));
  for (const item of Array.isArray(incoming) ? incoming : incoming === undefined ? [] : [incoming]) {
    const k = identityKey(item);
    if (!seen.has(k)) {
      seen.add(k);
      a.push(item);
    }
  }
  return a.length === 0 ? undefined : a;
}

function getPath(obj: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) {
    const next = cur[p];
    cur[p] = next && typeof next === 'object' ? { ...(next as Record<string, unknown>) } : {};
    cur = cur[p] as Record<string, unknown>;
  }
  if (value === undefined) delete cur[path[path.length - 1]];
  else cur[path[path.length - 1]] = value;
}

/** Merges `incoming` into `existing` per the entry's update/fill lists. */
export function merge(existing: Resource, incoming: Resource, update: string[], fill: string[]): Resource {
  if (update.includes('*')) {
    return { ...(incoming as object), id: existing.id, meta: existing.meta } as Resource;
  }
  const out = structuredClone(existing) as unknown as Record<string, unknown>;
  const inc = incoming as unknown as Record<string, unknown>;
  for (const f of update) {
    const append = f.startsWith('+');
    const path = (append ? f.slice(1) : f).split('.');
    const v = getPath(inc, path);
    if (v === undefined) continue;
    setPath(out, path, append ? appendUnique(getPath(out, path), v) : structuredClone(v));
  }
  for (const f of fill) {
    const append = f.startsWith('+');
    const path = (append ? f.slice(1) : f).split('.');
    const v = getPath(inc, path);
    if (v === undefined) continue;
    const cur = getPath(out, path);
    if (append) setPath(out, path, appendUnique(cur, v));
    else if (cur === undefined) setPath(out, path, structuredClone(v));
  }
  return out as unknown as Resource;
}

function rewriteReferences<T>(value: T, refs: Map<string, string>): T {
  if (refs.size === 0) return value;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        out[k] = k === 'reference' && typeof x === 'string' && refs.has(x) ? refs.get(x) : walk(x);
      }
      return out;
    }
    return v;
  };
  return walk(value) as T;
}

async function readOrUndefined(store: Pick<FhirStore, 'read'>, type: string, id: string, repair: boolean): Promise<{ resource?: Resource; gone: boolean }> {
  try {
    return { resource: await store.read(type, id, { repair }), gone: false };
  } catch (err) {
    const s = fhirStatus(err);
    if (s === 404) return { gone: false };
    if (s === 410) return { gone: true };
    throw err;
  }
}

/**
 * Recently read or written resources, by tenant and `Type/id` (bounded LRU with a time to live). Lets a busy ingest skip the
 * read of master data it wrote moments ago (the same organisations, practitioners and patients recur). A stale entry
 * can only make the applier skip a no-op or send an update with an old If-Match version, which fails (412) and is
 * retried from a fresh read; decisions to write are never based on it alone.
 */
export class ResourceCache {
  private readonly map = new Map<string, { r: Resource; at: number }>();

  constructor(
    private readonly ttlMs = 30_000,
    private readonly capacity = 20_000,
  ) {}

  get(tenant: string, ref: string): Resource | undefined {
    const key = `${tenant}|${ref}`;
    const hit = this.map.get(key);
    if (!hit) return undefined;
    if (Date.now() - hit.at > this.ttlMs) {
      this.map.delete(key);
      return undefined;
    }
    return hit.r;
  }

  put(tenant: string, r: Resource | undefined): void {
    if (!r?.id) return;
    const ref = `${tenant}|${r.resourceType}/${r.id}`;
    const now = Date.now();
    this.map.delete(ref);
    this.map.set(ref, { r, at: now });
    // Entries are in the order they were put: the expired ones (and those over capacity) are at the front. Dropping
    // them here keeps the cache to its time to live under a steady stream of new resources, not to its capacity.
    for (const [key, entry] of this.map) {
      if (this.map.size <= this.capacity && now - entry.at <= this.ttlMs) break;
      this.map.delete(key);
    }
  }

  /** Entries held (expired ones included until a put drops them). */
  get size(): number {
    return this.map.size;
  }

  evict(tenant: string, ref: string): void {
    this.map.delete(`${tenant}|${ref}`);
  }
}

/** A FHIR validation problem of a mapped resource: which resource, where in it (FHIRPath) and what. */
export interface MappedIssue {
  resource: string;
  expression?: string;
  message: string;
}

/**
 * Validates every resource of a mapping output as it would be written (with the source-message extension), before
 * anything is written: a message whose content FHIR refuses (a string over 1 MB, a year 0000 …) is the sender's
 * error and must not leave half of its resources behind. Returns at most `max` problems; none when all are valid.
 */
export function mappedIssues(output: MappingOutput, src: SourceInfo, max = 10): MappedIssue[] {
  const out: MappedIssue[] = [];
  for (const entry of output.resources) {
    for (const i of validationIssues(withSource(entry.resource, src))) {
      out.push({
        resource: entry.resource.resourceType,
        expression: i.expression?.[0],
        message: (i.details?.text ?? i.diagnostics ?? 'invalid').slice(0, 300),
      });
      if (out.length >= max) return out;
    }
  }
  return out;
}

/**
 * What applying one entry to `existing` (the stored resource found for it, or none) would do, by the rules above;
 * no I/O. `create` and `update` carry the body to write (with the source-message extension); the other actions keep
 * the stored version.
 */
export type EntryPlan =
  | { action: 'created'; body: Resource }
  | { action: 'updated'; body: Resource; stored: Resource }
  | { action: Exclude<ApplyAction, 'created' | 'updated'>; stored: Resource };

export function planEntry(existing: Resource | undefined, entry: MappedEntry, src: SourceInfo): EntryPlan {
  if (!existing) return { action: 'created', body: withSource(entry.resource, src) };
  const update = entry.update ?? [];
  const fill = entry.fill ?? [];
  if (update.length === 0 && fill.length === 0) return { action: 'kept', stored: existing };
  if (entry.updateIf) {
    for (const [field, allowed] of Object.entries(entry.updateIf)) {
      const v = (existing as unknown as Record<string, unknown>)[field];
      if (!allowed.includes(String(v))) return { action: 'skipped_state', stored: existing };
    }
  }
  if (isOlder(existing, src)) return { action: 'skipped_older', stored: existing };
  const incoming = { ...entry.resource, id: existing.id } as Resource;
  const merged = merge(existing, incoming, update, fill);
  if (sameContent(merged, existing)) return { action: 'unchanged', stored: existing };
  return { action: 'updated', body: withSource(merged, src), stored: existing };
}

/**
 * The stored resource an entry applies to: the one at its deterministic id, else (when the entry has an `identity`)
 * the one with that identifier. `gone`: the deterministic id was deleted (a create then revives it by update).
 * `repair: false` for a first attempt that creates what it does not find (the create's 409 leads to a repairing read).
 */
async function findExisting(store: Pick<FhirStore, 'read' | 'searchOne'>, entry: MappedEntry, repair = true): Promise<{ existing?: Resource; gone: boolean }> {
  const type = entry.resource.resourceType;
  const { resource, gone } = await readOrUndefined(store, type, entry.resource.id, repair);
  if (resource || gone || !entry.identity) return { existing: resource, gone };
  return { existing: await store.searchOne(type, { identifier: `${entry.identity.system}|${entry.identity.value}` }), gone };
}

/** One entry of a mapping output as it would be applied now: the stored resource and what it would become. */
interface PlannedResource {
  reference: string;
  action: ApplyAction;
  /** The current stored version (absent when the resource would be created). */
  stored?: Resource;
  /** The resource after applying: the body that would be written, or the stored version when it is kept. */
  result: Resource;
}

/**
 * Applies a mapping output on paper: reads the current resources (never the cache) and plans every entry with the
 * same rules and reference rewriting as applyMapped, writing nothing.
 */
export async function planMapped(store: Pick<FhirStore, 'read' | 'searchOne'>, output: MappingOutput, src: SourceInfo): Promise<PlannedResource[]> {
  const refs = new Map<string, string>();
  const results: PlannedResource[] = [];
  for (const rawEntry of output.resources) {
    const entry = { ...rawEntry, resource: rewriteReferences(rawEntry.resource, refs) };
    const type = entry.resource.resourceType;
    const planned = `${type}/${entry.resource.id}`;
    const { existing } = await findExisting(store, entry);
    const plan = planEntry(existing, entry, src);
    const reference = existing ? `${type}/${existing.id}` : planned;
    if (reference !== planned) refs.set(planned, reference);
    results.push('body' in plan
      ? { reference, action: plan.action, stored: existing, result: plan.body }
      : { reference, action: plan.action, stored: plan.stored, result: plan.stored });
  }
  return results;
}

/**
 * Applies one mapping output; returns what happened to every resource, in entry order.
 *
 * In three steps, so that one message costs few database commands: the stored resources of all entries are looked up
 * at once (no lookup depends on another: references are rewritten afterwards), every entry is planned in order with
 * the references rewritten, then every write goes out at once (the repository's group commit sends the message's
 * index entries, history versions and current documents as a few batched inserts; each write still wins or loses on
 * its own unique insert). A write that lost a race (409, 412) is applied again on its own from a fresh read; should
 * that move a resource another entry refers to, the whole output is applied again entry by entry (applying is
 * idempotent).
 */
export async function applyMapped(store: FhirStore, output: MappingOutput, src: SourceInfo, cache?: ResourceCache): Promise<AppliedResource[]> {
  const found = await Promise.all(
    output.resources.map(async (entry): Promise<{ existing?: Resource; gone: boolean }> => {
      // Expected to be new (e.g. the ServiceRequest of a new referral): created without a lookup; 409 → the read path.
      if (entry.createFirst) return { gone: false };
      const planned = `${entry.resource.resourceType}/${entry.resource.id}`;
      const cached = cache?.get(store.tenant, planned);
      if (cached) return { existing: cached, gone: false };
      const r = await findExisting(store, entry, false);
      cache?.put(store.tenant, r.existing);
      return r;
    }),
  );
  const refs = new Map<string, string>();
  const planned = output.resources.map((rawEntry, i) => {
    const entry = { ...rawEntry, resource: rewriteReferences(rawEntry.resource, refs) };
    const type = entry.resource.resourceType;
    const plannedRef = `${type}/${entry.resource.id}`;
    const { existing, gone } = found[i];
    const reference = existing ? `${type}/${existing.id}` : plannedRef;
    if (reference !== plannedRef) refs.set(plannedRef, reference);
    return { entry, plan: planEntry(existing, entry, src), gone, reference };
  });
  let moved = false;
  const results = await Promise.all(
    planned.map(async ({ entry, plan, gone, reference }) => {
      try {
        return await writePlanned(store, entry, plan, gone, cache);
      } catch (err) {
        const s = fhirStatus(err);
        if (s !== 409 && s !== 412) throw err;
        cache?.evict(store.tenant, `${entry.resource.resourceType}/${entry.resource.id}`);
        const again = await applyEntry(store, entry, src, cache, 2);
        if (again.reference !== reference) moved = true;
        return again;
      }
    }),
  );
  if (!moved) return results;
  const again: AppliedResource[] = [];
  refs.clear();
  for (const rawEntry of output.resources) {
    const entry = { ...rawEntry, resource: rewriteReferences(rawEntry.resource, refs) };
    const r = await applyEntry(store, entry, src, cache, 2);
    const plannedRef = `${entry.resource.resourceType}/${entry.resource.id}`;
    if (r.reference !== plannedRef) refs.set(plannedRef, r.reference);
    again.push(r);
  }
  return again;
}

/** Writes one planned entry (a create, an update with If-Match on the version planned from, or nothing). */
async function writePlanned(store: FhirStore, entry: MappedEntry, plan: EntryPlan, gone: boolean, cache?: ResourceCache): Promise<AppliedResource> {
  const type = entry.resource.resourceType;
  if (plan.action === 'created') {
    // Nothing was found at this id (a create racing us still loses on the unique version insert: 409).
    const created = gone ? await store.update(plan.body) : await store.create(plan.body, { id: entry.resource.id });
    cache?.put(store.tenant, created);
    return { reference: `${type}/${created.id}`, action: 'created', versionId: created.meta?.versionId };
  }
  const reference = `${type}/${plan.stored.id}`;
  if (plan.action === 'updated') {
    const written = await store.update(plan.body, { ifMatchVersion: plan.stored.meta?.versionId });
    cache?.put(store.tenant, written);
    return { reference, action: 'updated', versionId: written.meta?.versionId };
  }
  // Not written from this message: the stored version stays, its engine extensions brought to the current form.
  const upgraded = upgradeExtensions(plan.stored);
  if (!upgraded) return { reference, action: plan.action, versionId: plan.stored.meta?.versionId };
  const written = await store.update(upgraded, { ifMatchVersion: plan.stored.meta?.versionId });
  cache?.put(store.tenant, written);
  return { reference, action: plan.action, versionId: written.meta?.versionId };
}

/** Applies one entry from a fresh read (never the cache), retrying lost races (409, 412) a few times. */
async function applyEntry(store: FhirStore, entry: MappedEntry, src: SourceInfo, cache: ResourceCache | undefined, firstAttempt: number): Promise<AppliedResource> {
  for (let attempt = firstAttempt; ; attempt++) {
    try {
      const { existing, gone } = await findExisting(store, entry);
      cache?.put(store.tenant, existing);
      return await writePlanned(store, entry, planEntry(existing, entry, src), gone, cache);
    } catch (err) {
      const s = fhirStatus(err);
      // 409: someone created it between our read and create; 412: someone updated it between read and update.
      if ((s === 409 || s === 412) && attempt < MAX_ATTEMPTS) {
        cache?.evict(store.tenant, `${entry.resource.resourceType}/${entry.resource.id}`);
        continue;
      }
      throw err;
    }
  }
}
