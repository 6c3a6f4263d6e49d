/**
 * Deterministic FHIR resource ids for ingested data: the same natural key (FNR, HER-id, DocumentId …) always gives the
 * same id, so replays and concurrent messages converge on one resource instead of creating duplicates.
 *
 * The id is a keyed hash (HMAC-SHA256, first 128 bits shaped as a version-8 UUID), not a plain hash: a plain hash of a
 * fødselsnummer could be reversed by trying every possible number, and resource ids appear in URLs and logs.
 * The key is `RESOURCE_ID_KEY` when set, else one generated on first start and kept in the database
 * (`ingest_settings`), so every engine sharing the database derives the same ids.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Db } from 'mongodb';
import { isDuplicateKey, type CollectionSpec } from '../platform/db/mongo.js';

export const ingestSettingsCollection: CollectionSpec = { name: 'ingest_settings', indexes: [] };

export class ResourceIds {
  private readonly tenants = new Map<string, ResourceIds>();

  /** `key`: the HMAC key (worker threads are given it, or a tenant's, to derive the same ids). */
  constructor(readonly key: Buffer) {}

  /**
   * The ids of one tenant: the same natural key gives another id in every tenant (the key is derived from the
   * tenant id), so the same person referred to two legal entities is two resources.
   */
  forTenant(tenant: string): ResourceIds {
    let ids = this.tenants.get(tenant);
    if (!ids) {
      ids = new ResourceIds(createHmac('sha256', this.key).update(`tenant\u0000${tenant}`).digest());
      if (this.tenants.size < 10_000) this.tenants.set(tenant, ids);
    }
    return ids;
  }

  /** A stable UUID-shaped id for `resourceType` + `naturalKey`. */
  id(resourceType: string, naturalKey: string): string {
    const h = createHmac('sha256', this.key).update(`${resourceType}\u0000${naturalKey}`).digest();
    h[6] = (h[6] & 0x0f) | 0x80; // version 8 (custom)
    h[8] = (h[8] & 0x3f) | 0x80; // RFC 9562 variant
    const x = h.subarray(0, 16).toString('hex');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
  }
}

interface SettingDoc {
  _id: string;
  key: string;
  createdAt: Date;
}

/** The configured key, or the database's (created race-safely on first start). */
export async function loadResourceIds(db: Db, configured: string | undefined): Promise<ResourceIds> {
  if (configured) return new ResourceIds(Buffer.from(configured, 'utf8'));
  const coll = db.collection<SettingDoc>(ingestSettingsCollection.name);
  const found = await coll.findOne({ _id: 'resource-id-key' });
  if (found) return new ResourceIds(Buffer.from(found.key, 'base64'));
  const key = randomBytes(32).toString('base64');
  try {
    await coll.insertOne({ _id: 'resource-id-key', key, createdAt: new Date() });
    return new ResourceIds(Buffer.from(key, 'base64'));
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const again = await coll.findOne({ _id: 'resource-id-key' });
    if (!again) throw err;
    return new ResourceIds(Buffer.from(again.key, 'base64'));
  }
}
