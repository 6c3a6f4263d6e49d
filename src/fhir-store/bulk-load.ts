/** Bulk load of new resources into the repository of one tenant. */
import { randomUUID } from 'node:crypto';
import type { Collection } from 'mongodb';
import type { Resource } from '@medplum/fhirtypes';
import { isDuplicateKey } from '../platform/db/mongo.js';
import { FhirError } from './errors.js';
import type { PostingIndex } from './postings.js';
import { typeDef } from './resource-types.js';
import { postingKeys, searchKeys } from './search-keys.js';
import { currentKey, historyKey, tenantPostingKey, withTenantTag, type HistoryDoc, type StoredDoc } from './stored-docs.js';
import { assertValid } from './validation.js';

/** What a bulk load writes to (the FHIR storage shared by all tenants provides it). */
interface BulkLoadTarget {
  readonly history$: Collection<HistoryDoc>;
  readonly postings: PostingIndex;
  readonly now: () => number;
  current(type: string): Collection<StoredDoc>;
}

/**
 * Bulk load of new resources (no previous versions): validation optional, ids assigned when missing, one current
 * document per resource, history only when `history` is true, postings batched (one slot per key per batch).
 * Existing ids make the batch fail with a duplicate-key error. For seeding and benchmarks.
 */
export async function bulkLoad(
  target: BulkLoadTarget,
  tenant: string,
  resources: Resource[],
  opts: { validate?: boolean; history?: boolean; skipExisting?: boolean } = {},
): Promise<number> {
  const byType = new Map<string, StoredDoc[]>();
  const history: HistoryDoc[] = [];
  const postings = new Map<string, string[]>();
  const lu = target.now();
  for (const r0 of resources) {
    const type = r0.resourceType;
    if (!typeDef(type)) throw new FhirError(422, 'not-supported', `Resource type ${type} is not supported`);
    const id = r0.id ?? randomUUID();
    const r = withTenantTag({ ...r0, id, meta: { ...(r0.meta ?? {}), versionId: '1', lastUpdated: new Date(lu).toISOString() } } as Resource, tenant);
    if (opts.validate !== false) assertValid(r);
    const keys = searchKeys(r);
    let list = byType.get(type);
    if (!list) byType.set(type, (list = []));
    list.push({ _id: currentKey(tenant, id), v: 1, lu, resource: r });
    if (opts.history) history.push({ _id: historyKey(tenant, type, id, 1), t: type, id, v: 1, lu, resource: r });
    for (const k of postingKeys(type, keys)) {
      let ids = postings.get(tenantPostingKey(tenant, k));
      if (!ids) postings.set(tenantPostingKey(tenant, k), (ids = []));
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
  await target.postings.bulkAdd(postings);
  if (history.length > 0) await insert(target.history$, history);
  for (const [type, docs] of byType) await insert(target.current(type), docs);
  return resources.length;
}
