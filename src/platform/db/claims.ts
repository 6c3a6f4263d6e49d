/**
 * "First writer wins", atomically, on every server the engine runs on.
 *
 * FerretDB 1.24 (SQLite) applies an update as read-modify-write of the whole document without a transaction, so
 * concurrent updates of one document can be lost and a conditional update (findOneAndUpdate on an expected state) can
 * succeed for several callers at once (measured: 2–7 winners out of 8 concurrent callers). An insert with a unique
 * `_id` is atomic there as on MongoDB, so every "exactly one wins" decision in the engine is an insert into `claims`:
 * e.g. `claim(db, 'consultation:<id>:v3')` before moving a consultation from version 2 to 3.
 */
import type { Db } from 'mongodb';
import { isDuplicateKey, type CollectionSpec } from './mongo.js';

export const claimCollections: CollectionSpec[] = [{ name: 'claims', indexes: [{ key: { at: 1 }, name: 'at' }] }];

interface ClaimDocument {
  _id: string;
  at: Date;
  by?: string;
}

/** True for exactly one caller per key; false when the key was claimed before. */
export async function claim(db: Db, key: string, by?: string): Promise<boolean> {
  try {
    await db.collection<ClaimDocument>('claims').insertOne({ _id: key, at: new Date(), by });
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

/** Who holds a claim (undefined when nobody does). */
async function claimHolder(db: Db, key: string): Promise<{ at: Date; by?: string } | undefined> {
  const doc = await db.collection<ClaimDocument>('claims').findOne({ _id: key });
  return doc ? { at: doc.at, by: doc.by } : undefined;
}

/** Gives a claim up (e.g. when the work it guarded failed and may be tried again). */
export async function releaseClaim(db: Db, key: string): Promise<void> {
  await db.collection<ClaimDocument>('claims').deleteOne({ _id: key });
}

/**
 * Like `claim`, for work that may die while holding it: when the key is held for longer than `staleMs`, exactly one
 * caller takes it over by claiming `<key>:after:<holder's time>` (and so on along the chain). Returns the key now held,
 * or the live holder (who holds it since when, and what it named) when somebody else has it.
 */
export async function claimWithTakeover(
  db: Db,
  key: string,
  staleMs: number,
  by?: string,
): Promise<{ key: string; holder?: undefined } | { key?: undefined; holder: { at: Date; by?: string } }> {
  let k = key;
  for (let hops = 0; hops < 50; hops++) {
    if (await claim(db, k, by)) return { key: k };
    const holder = await claimHolder(db, k);
    if (!holder) continue; // released (or not yet visible on another connection): try the same key again
    if (Date.now() - holder.at.getTime() < staleMs) return { holder };
    k = `${key}:after:${holder.at.getTime()}`;
  }
  throw new Error(`claim ${key}: too many stale holders`);
}
