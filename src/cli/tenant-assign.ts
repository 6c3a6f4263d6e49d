/**
 * Upgrading an installation to tenancy: data stored before it belongs to no tenant, so no request sees it. `assign`
 * gives every such record to one tenant, idempotently (only records without a tenant are touched; a run that stopped
 * half-way is completed by the next):
 *
 *   messages              tenant set; dedup key rewritten to the per-tenant form (tenant + sender HER-id + MsgId)
 *   consultations         tenant set; the one-live-consultation key prefixed with the tenant
 *   consultation_reports  client_id set on reports that had none (daily reports)
 *   FHIR                  current documents and history re-keyed `<tenant>|…` with the tenant tag added; posting
 *                         lists appended under the tenant's keys, the old slots deleted
 *
 * Resource ids stay as they were (references keep working). Deterministic ids of new messages are derived per tenant,
 * so a replay of an old message writes new resources beside the old ones rather than new versions of them.
 */
import type { Collection, Db } from 'mongodb';
import { isDuplicateKey } from '../platform/db/mongo.js';
import { PostingIndex, type PostingDoc } from '../fhir-store/postings.js';
import { currentCollectionName, HISTORY_COLLECTION, RESOURCE_TYPES, SEARCH_INDEX_COLLECTION } from '../fhir-store/resource-types.js';
import { TENANT_TAG_SYSTEM } from '../platform/tenancy/tenant.js';

export interface AssignCounts {
  messages: number;
  consultations: number;
  reports: number;
  fhirCurrent: number;
  fhirHistory: number;
  postingKeys: number;
}

export interface AssignOptions {
  dryRun?: boolean;
  onProgress?: (what: keyof AssignCounts, done: number) => void;
}

const BATCH = 500;
/** No tenant: the field missing or null (`{field: null}` matches both). */
const NO_TENANT = { tenant: null } as never;

interface TaggedResource {
  meta?: { tag?: { system?: string; code?: string }[] };
}

interface StoredFhir {
  _id: string;
  resource?: TaggedResource;
  j?: string;
  [k: string]: unknown;
}

/** Legacy keys have no tenant prefix: their first segment is a resource type. */
function legacyFhirKey(id: string): boolean {
  return !id.includes('|');
}

function legacyPostingKey(id: string): boolean {
  const [first, second] = id.split('|');
  return RESOURCE_TYPES.has(first) && !RESOURCE_TYPES.has(second ?? '');
}

/** The resource with the tenant tag, in the form it was stored (a sub-document, or JSON text in older documents). */
function tagged(d: StoredFhir, tenant: string): Pick<StoredFhir, 'resource' | 'j'> {
  const r = d.resource ?? (d.j !== undefined ? (JSON.parse(d.j) as TaggedResource) : undefined);
  if (!r) return {};
  const tags = (r.meta?.tag ?? []).filter((t) => t.system !== TENANT_TAG_SYSTEM);
  const out = { ...r, meta: { ...(r.meta ?? {}), tag: [...tags, { system: TENANT_TAG_SYSTEM, code: tenant }] } };
  return d.resource ? { resource: out } : { j: JSON.stringify(out) };
}

export async function assignTenant(db: Db, tenant: string, opts: AssignOptions = {}): Promise<AssignCounts> {
  const counts: AssignCounts = { messages: 0, consultations: 0, reports: 0, fhirCurrent: 0, fhirHistory: 0, postingKeys: 0 };
  const dry = opts.dryRun === true;
  const progress = (k: keyof AssignCounts) => opts.onProgress?.(k, counts[k]);

  // Messages.
  const messages = db.collection<{ _id: string; source: string; externalId?: string; sender?: { ids?: { type: string; value: string }[] }; tenant?: string }>('messages');
  if (dry) counts.messages = await messages.countDocuments(NO_TENANT);
  else
    for (;;) {
      const batch = await messages.find(NO_TENANT, { projection: { _id: 1, source: 1, externalId: 1, sender: 1 } }).limit(BATCH).toArray();
      for (const m of batch) {
        const her = m.sender?.ids?.find((i) => i.type === 'HER')?.value ?? '-';
        const dedupKey = !m.externalId
          ? `${m.source}:${tenant}:none:${m._id}`
          : m.source === 'henvisning'
            ? `henvisning:${tenant}:${her}:${m.externalId}`
            : `${m.source}:${tenant}:${m.externalId}`;
        try {
          await messages.updateOne({ _id: m._id }, { $set: { tenant, dedupKey } });
        } catch (err) {
          // Two legacy messages that now share a key (cannot happen for one tenant and sender): keep it unique.
          if (!isDuplicateKey(err)) throw err;
          await messages.updateOne({ _id: m._id }, { $set: { tenant, dedupKey: `${dedupKey}:legacy:${m._id}` } });
        }
        counts.messages++;
      }
      progress('messages');
      if (batch.length < BATCH) break;
    }

  // Consultations.
  const consultations = db.collection<{ _id: string; active_key: string; tenant?: string | null }>('consultations');
  if (dry) counts.consultations = await consultations.countDocuments(NO_TENANT);
  else
    for (;;) {
      const batch = await consultations.find(NO_TENANT, { projection: { _id: 1, active_key: 1 } }).limit(BATCH).toArray();
      for (const c of batch) {
        await consultations.updateOne({ _id: c._id }, { $set: { tenant, active_key: c.active_key.includes('|') ? c.active_key : `${tenant}|${c.active_key}` } });
        counts.consultations++;
      }
      progress('consultations');
      if (batch.length < BATCH) break;
    }

  // Reports without a tenant.
  const reports = db.collection<{ _id: string; client_id: string | null }>('consultation_reports');
  const noClient = { client_id: null } as never;
  counts.reports = dry ? await reports.countDocuments(noClient) : (await reports.updateMany(noClient, { $set: { client_id: tenant } })).modifiedCount;
  progress('reports');

  // FHIR current documents and history: copy under the tenant's key, then delete the legacy one.
  const rekey = async (col: Collection<StoredFhir>, prefixOf: (d: StoredFhir) => string, what: 'fhirCurrent' | 'fhirHistory') => {
    for (let after = ''; ; ) {
      const batch = await col.find({ _id: { $gt: after } }).sort({ _id: 1 }).limit(BATCH).toArray();
      if (batch.length === 0) break;
      after = batch[batch.length - 1]._id;
      for (const d of batch) {
        if (!legacyFhirKey(d._id)) continue;
        counts[what]++;
        if (dry) continue;
        const copy: StoredFhir = { ...d, _id: prefixOf(d), ...tagged(d, tenant) };
        try {
          await col.insertOne(copy);
        } catch (err) {
          if (!isDuplicateKey(err)) throw err; // copied by an earlier run that stopped before deleting
        }
        await col.deleteOne({ _id: d._id });
      }
      progress(what);
    }
  };
  for (const type of RESOURCE_TYPES.keys()) await rekey(db.collection<StoredFhir>(currentCollectionName(type)), (d) => `${tenant}|${d._id}`, 'fhirCurrent');
  await rekey(db.collection<StoredFhir>(HISTORY_COLLECTION), (d) => `${tenant}|${d._id}`, 'fhirHistory');

  // Posting lists: the ids of every legacy key appended under the tenant's key, then the legacy slots deleted.
  const postings = db.collection<PostingDoc>(SEARCH_INDEX_COLLECTION);
  const index = new PostingIndex(postings);
  for (let after = ''; ; ) {
    const batch = await postings.find({ _id: { $gt: after } }).sort({ _id: 1 }).limit(BATCH).toArray();
    if (batch.length === 0) break;
    after = batch[batch.length - 1]._id;
    const byKey = new Map<string, { ids: string[]; slots: string[] }>();
    for (const p of batch) {
      if (!legacyPostingKey(p._id)) continue;
      const key = p._id.slice(0, p._id.lastIndexOf('#'));
      let e = byKey.get(key);
      if (!e) byKey.set(key, (e = { ids: [], slots: [] }));
      e.ids.push(...p.r);
      e.slots.push(p._id);
    }
    counts.postingKeys += byKey.size;
    if (!dry && byKey.size > 0) {
      await index.bulkAdd(new Map([...byKey].map(([k, e]) => [`${tenant}|${k}`, e.ids])));
      await postings.deleteMany({ _id: { $in: [...byKey.values()].flatMap((e) => e.slots) } });
    }
    progress('postingKeys');
  }
  return counts;
}
