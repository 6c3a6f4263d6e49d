/**
 * The stored form of FHIR resources (repository.ts describes the collections): the documents, their keys, and the
 * conversion between a stored document and the version held in memory.
 */
import type { Resource } from '@medplum/fhirtypes';
import { searchKeys, type SearchKeys } from './search-keys.js';
import { TENANT_TAG_SYSTEM } from '../platform/tenancy/tenant.js';

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

/** Syntax of a resource id. */
export const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

/** Stored key of a current document. */
export function currentKey(tenant: string, id: string): string {
  return `${tenant}|${id}`;
}

/** Stored key of a history entry. */
export function historyKey(tenant: string, type: string, id: string, v: number): string {
  return `${tenant}|${type}/${id}/${v}`;
}

/** A posting key of the tenant. */
export function tenantPostingKey(tenant: string, key: string): string {
  return `${tenant}|${key}`;
}

/** The resource id of a stored key `<tenant>|<id>`. */
function idOfKey(key: string): string {
  return key.slice(key.indexOf('|') + 1);
}

/** Stored → in memory (`_id` is the resource id); search keys only when asked (needed for matching, not reads). */
export function decode(d: StoredDoc, keys = false): CurrentDoc {
  const out: CurrentDoc = { _id: idOfKey(d._id), v: d.v, lu: d.lu };
  if (d.deleted) out.deleted = true;
  const r = d.resource ?? (d.j !== undefined ? (JSON.parse(d.j) as Resource) : undefined);
  if (r) {
    out.r = r;
    if (keys) Object.assign(out, searchKeys(r));
  }
  return out;
}

export function encode(key: string, d: { v: number; lu: number; deleted?: true; r?: Resource }): StoredDoc {
  const out: StoredDoc = { _id: key, v: d.v, lu: d.lu };
  if (d.deleted) out.deleted = true;
  if (d.r) out.resource = d.r;
  return out;
}

/** The resource with the tenant tag as its only tag of that system. */
export function withTenantTag<T extends Resource>(r: T, tenant: string): T {
  const tags = (r.meta?.tag ?? []).filter((t) => t.system !== TENANT_TAG_SYSTEM);
  return { ...r, meta: { ...(r.meta ?? {}), tag: [...tags, { system: TENANT_TAG_SYSTEM, code: tenant }] } };
}
