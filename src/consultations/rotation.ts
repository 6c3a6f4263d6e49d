/**
 * Key rotation for what the consultations concern encrypts: consultation results (per-field ciphertexts) and the
 * stored insurer report workbooks. Everything not yet under the ACTIVE key is decrypted with its old key and
 * re-encrypted with the active one. Consultations change through the single-writer revision protocol
 * (revision-store.ts), so a concurrent transition or a second rotation run never loses data. Safe to run while the
 * engine runs, and again.
 */
import type { Db, Filter } from 'mongodb';
import type { FieldCipher } from '../lib/crypto/field-cipher.js';
import type { MediaStorage } from '../platform/storage/media-storage.js';
import { keyIdOfBytes } from '../lib/crypto/field-cipher.js';
import { reencryptResult } from './result-crypto.js';
import { RevisionStore } from './revision-store.js';
import { reportContext, reportsCollection, type ReportDoc } from './report.js';
import { CONSULTATIONS_COLLECTION } from './service.js';
import type { ConsultationDoc } from './types.js';

export interface RotationStats {
  name: string;
  /** Records found under another key than the active one. */
  found: number;
  reencrypted: number;
  failed: { id: string; error: string }[];
}

interface RotationOptions {
  dryRun?: boolean;
  batchSize?: number;
  onProgress?: (name: string, done: number, total: number) => void;
}

export async function rotateConsultationResults(db: Db, cipher: FieldCipher, opts: RotationOptions = {}): Promise<RotationStats> {
  const coll = db.collection<ConsultationDoc>(CONSULTATIONS_COLLECTION);
  const store = new RevisionStore(db, coll);
  const active = cipher.activeKeyId;
  const base: Filter<ConsultationDoc> = { result: { $ne: null }, 'result.kid': { $ne: active } };
  const stats: RotationStats = { name: 'consultation results', found: await coll.countDocuments(base), reencrypted: 0, failed: [] };
  if (opts.dryRun) return stats;
  let lastId = '';
  for (;;) {
    const batch = await coll
      .find({ ...base, _id: { $gt: lastId } })
      .sort({ _id: 1 })
      .limit(opts.batchSize ?? 200)
      .toArray();
    if (batch.length === 0) break;
    for (const doc of batch) {
      lastId = doc._id;
      try {
        let changed = false;
        // a single-writer change like any other (safe beside a running engine, also on FerretDB)
        await store.mutate(doc._id, (current) => {
          if (!current.result || current.result.kid === cipher.activeKeyId) return null;
          changed = true;
          return { action: 'rotate', by: 'keys rotate', set: { result: reencryptResult(cipher, current._id, current.result) }, affectsEncounter: false };
        });
        if (changed) stats.reencrypted++;
      } catch (err) {
        stats.failed.push({ id: doc._id, error: (err as Error).message });
      }
      opts.onProgress?.(stats.name, stats.reencrypted + stats.failed.length, stats.found);
    }
  }
  return stats;
}

export async function rotateReports(db: Db, cipher: FieldCipher, media: MediaStorage, opts: RotationOptions = {}): Promise<RotationStats> {
  const reports = reportsCollection(db);
  const active = cipher.activeKeyId;
  const base: Filter<ReportDoc> = { status: 'ready', kid: { $nin: [null, active] } };
  const stats: RotationStats = { name: 'insurer reports', found: await reports.countDocuments(base), reencrypted: 0, failed: [] };
  if (opts.dryRun) return stats;
  for (const r of await reports.find(base).sort({ _id: 1 }).toArray()) {
    try {
      const obj = r.media_key ? await media.get(r.media_key) : undefined;
      if (!obj) throw new Error('the stored file is missing');
      const ctx = reportContext(r._id);
      const envelope = cipher.encryptBytes(cipher.decryptBytes(obj.bytes, ctx), ctx);
      await media.put(r.media_key!, envelope, 'application/octet-stream');
      const res = await reports.updateOne({ _id: r._id, kid: r.kid }, { $set: { kid: keyIdOfBytes(envelope), updated_at: new Date() } });
      if (res.modifiedCount === 1) stats.reencrypted++;
    } catch (err) {
      stats.failed.push({ id: r._id, error: (err as Error).message });
    }
    opts.onProgress?.(stats.name, stats.reencrypted + stats.failed.length, stats.found);
  }
  return stats;
}

/** How many records each key id protects. */
export async function keyUsage(db: Db): Promise<Record<string, Record<string, number>>> {
  const count = async (coll: string, field: string, match: Record<string, unknown>) => {
    const rows = await db
      .collection(coll)
      .aggregate<{ _id: string; n: number }>([{ $match: match }, { $group: { _id: `$${field}`, n: { $sum: 1 } } }])
      .toArray();
    return Object.fromEntries(rows.map((r) => [String(r._id), r.n]));
  };
  return {
    'consultation results': await count(CONSULTATIONS_COLLECTION, 'result.kid', { result: { $ne: null } }),
    'insurer reports': await count(reportsCollection(db).collectionName, 'kid', { status: 'ready' }),
  };
}
