/**
 * Read cache of registry records (read-mostly data the care plan checks read on every request and job run).
 *
 * Every write through RegistryStore replaces the registry's stamp in `registry_stamps` (a random value, before and
 * after the data write: no atomic update is needed, any write just changes it). An instance compares the stamps it
 * knows with the database at most every `checkMs` (REGISTRY_CACHE_CHECK_MS) and drops a registry's cached reads when
 * its stamp changed. Staleness bound: writes through this instance are seen at once (the cache is dropped locally);
 * writes by another instance or the CLI loader are seen within `checkMs` plus one stamp query. `checkMs` 0 compares on
 * every lookup (then the cache saves nothing: one query either way).
 * A read that raced a local write is not stored (generation counter), so a cached value is never older than the last
 * local write. Values are cloned on the way in and out: callers may modify what they get.
 */
import { randomUUID } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import type { CollectionSpec } from '../platform/db/mongo.js';

const REGISTRY_STAMPS = 'registry_stamps';
export const registryStampCollection: CollectionSpec = { name: REGISTRY_STAMPS, indexes: [] };

interface StampDoc {
  _id: string;
  stamp: string;
  at: Date;
}

/** Entries kept per registry before its cache is cleared (a bound on memory, not an LRU). */
const MAX_ENTRIES = 5_000;

export class RegistryCache {
  private readonly stamps: Collection<StampDoc>;
  private readonly known = new Map<string, string>();
  private readonly entries = new Map<string, Map<string, unknown>>();
  private readonly generations = new Map<string, number>();
  private checkedAt = -Infinity;
  private checking?: Promise<void>;

  constructor(
    db: Db,
    private readonly checkMs: number,
  ) {
    this.stamps = db.collection<StampDoc>(REGISTRY_STAMPS);
  }

  /** The cached value of `key` in `registry`, else `load()` (stored unless the registry changed meanwhile). */
  async read<T>(registry: string, key: string, load: () => Promise<T>): Promise<T> {
    await this.fresh();
    const map = this.entries.get(registry);
    if (map?.has(key)) return structuredClone(map.get(key)) as T;
    const generation = this.generations.get(registry) ?? 0;
    const value = await load();
    if ((this.generations.get(registry) ?? 0) === generation) {
      let m = this.entries.get(registry);
      if (!m || m.size >= MAX_ENTRIES) this.entries.set(registry, (m = new Map()));
      m.set(key, structuredClone(value));
    }
    return value;
  }

  /** Marks a registry changed (call before and after writing its records). */
  async changed(registry: string): Promise<void> {
    this.drop(registry);
    const stamp = randomUUID();
    await this.stamps.replaceOne({ _id: registry }, { stamp, at: new Date() }, { upsert: true });
    this.known.set(registry, stamp);
    this.drop(registry);
  }

  private drop(registry: string): void {
    this.entries.delete(registry);
    this.generations.set(registry, (this.generations.get(registry) ?? 0) + 1);
  }

  private async fresh(): Promise<void> {
    if (this.checkMs > 0 && Date.now() - this.checkedAt < this.checkMs) return;
    this.checking ??= (async () => {
      const startedAt = Date.now();
      try {
        for (const s of await this.stamps.find({}).toArray()) {
          if (this.known.get(s._id) !== s.stamp) {
            this.known.set(s._id, s.stamp);
            this.drop(s._id);
          }
        }
        this.checkedAt = startedAt;
      } finally {
        this.checking = undefined;
      }
    })();
    await this.checking;
  }
}
