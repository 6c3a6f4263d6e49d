/**
 * The one MongoDB connection module. Every concern declares its collections and indexes as `CollectionSpec`s;
 * `ensureCollections` creates them at start-up (idempotent: createIndex with the same spec is a no-op).
 *
 * Write concern is `majority` by default. No code in the engine relies on multi-document transactions or change
 * streams (FerretDB lacks them): multi-step work is made idempotent instead.
 */
import { MongoClient, type Db, type IndexDescription } from 'mongodb';
import { dbLatency } from '../metrics/registry.js';

export interface CollectionSpec {
  name: string;
  indexes: IndexDescription[];
}

export interface Database {
  client: MongoClient;
  db: Db;
  close(): Promise<void>;
}

export async function connectDatabase(uri: string, dbName: string): Promise<Database> {
  const client = new MongoClient(uri, {
    writeConcern: { w: 'majority' },
    serverSelectionTimeoutMS: 10_000,
    heartbeatFrequencyMS: 2_000,
    appName: 'hl7-engine',
    monitorCommands: true,
  });
  client.on('commandSucceeded', (e) => dbLatency.observe({ command: e.commandName }, e.duration / 1000));
  client.on('commandFailed', (e) => dbLatency.observe({ command: e.commandName }, e.duration / 1000));
  await client.connect();
  const db = client.db(dbName);
  return {
    client,
    db,
    close: () => client.close(),
  };
}

export async function ensureCollections(db: Db, specs: CollectionSpec[]): Promise<void> {
  const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
  for (const spec of specs) {
    if (!existing.has(spec.name)) {
      try {
        await db.createCollection(spec.name);
      } catch (err) {
        // Another instance created it in between: fine.
        if ((err as { codeName?: string }).codeName !== 'NamespaceExists') throw err;
      }
    }
    if (spec.indexes.length === 0) continue;
    // Only missing indexes are created (FerretDB 1.24 drops the connection when createIndexes is given several
    // indexes that all exist already). Every index must have a name.
    const coll = db.collection(spec.name);
    const present = new Set((await coll.indexes()).map((i) => i.name));
    for (const index of spec.indexes) {
      if (!index.name) throw new Error(`Index on ${spec.name} without a name: ${JSON.stringify(index.key)}`);
      if (present.has(index.name)) continue;
      try {
        await coll.createIndexes([index]);
      } catch (err) {
        // FerretDB 1.24 does not implement TTL indexes: keep the plain index; the owner of the collection also purges
        // expired documents itself (e.g. the message store's sweep).
        if (index.expireAfterSeconds === undefined || !/expireAfterSeconds/.test((err as Error).message)) throw err;
        const { expireAfterSeconds: _ttl, ...plain } = index;
        await coll.createIndexes([plain]);
      }
    }
  }
}

/** Database reachability for /readyz: a ping bounded by a timeout so the probe answers quickly. */
export async function pingDatabase(db: Db, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([
      db.command({ ping: 1 }, { timeoutMS: timeoutMs }).then(() => true, () => false),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A duplicate-key refusal (code 11000): of one insert, or of a bulk insert whose every failed write was one. */
export function isDuplicateKey(err: unknown): boolean {
  const e = err as { code?: number; writeErrors?: { code?: number }[] };
  return e?.code === 11000 || (Array.isArray(e?.writeErrors) && e.writeErrors.length > 0 && e.writeErrors.every((w) => w.code === 11000));
}
