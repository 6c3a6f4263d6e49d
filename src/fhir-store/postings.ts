/**
 * The search index: for every key ("Type|param|value") a list of resource ids, stored as numbered slot documents
 * `{_id: "<key>#<slot>", r: [ids]}` with slots 0, 1, 2, ... contiguous.
 *
 * Why this shape: every access is an exact `_id` lookup or a unique `_id` insert, the only operations that are both
 * index-backed and atomic on every supported database (FerretDB 1.24 pushes down nothing but `{_id: value}` and has no
 * atomic read-modify-write). Appending = inserting the next free slot; two writers racing for a slot get exactly one
 * winner (duplicate key), the loser moves on. Slots are never removed, so the list may hold stale ids (a resource
 * whose value changed, or was deleted): readers re-check every candidate against the resource's current search keys.
 *
 * Writers keep an in-memory hint of the next free slot per key (a lower bound); a cold or stale hint is corrected by
 * galloping + binary search over slot existence (slots are a contiguous prefix).
 */
import type { Collection } from 'mongodb';
import { isDuplicateKey } from '../platform/db/mongo.js';

export interface PostingDoc {
  _id: string;
  r: string[];
}

export interface SlotRead {
  slot: number;
  ids: string[];
}

/**
 * Hints are kept only for lists with at least two slots (shared keys such as a patient's referrals or a status):
 * single-slot lists (identifiers) are the majority and would evict them. Appending to a list with no hint costs one
 * failed insert and one lookup before the hint exists.
 */
const HINT_CAPACITY = 500_000;

export class PostingIndex {
  private readonly hints = new Map<string, number>();
  /** Entries waiting for the next group append, merged by key, and their callers. */
  private pending = new Map<string, string[]>();
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private flushing = false;
  private scheduled = false;

  constructor(private readonly col: Collection<PostingDoc>) {}

  /**
   * Group append: like `add`, but the entries of concurrent writers are merged (one slot per key for all of them)
   * and written by one `add` at a time. Hot keys (a type, a status, an organisation) then get one new slot per batch
   * instead of one per writer, and writers of one engine never race each other for a slot (a race costs a failed
   * insert and slot lookups). Resolves once the entries are written.
   */
  append(entries: Map<string, string[]>): Promise<void> {
    if (entries.size === 0) return Promise.resolve();
    for (const [k, ids] of entries) {
      const list = this.pending.get(k);
      if (list) list.push(...ids);
      else this.pending.set(k, [...ids]);
    }
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.scheduleAppend();
    });
  }

  private scheduleAppend(): void {
    if (this.flushing || this.scheduled || this.waiters.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flushAppend();
    });
  }

  private async flushAppend(): Promise<void> {
    if (this.flushing || this.waiters.length === 0) return;
    this.flushing = true;
    const entries = new Map([...this.pending].map(([k, ids]) => [k, [...new Set(ids)]]));
    const waiters = this.waiters;
    this.pending = new Map();
    this.waiters = [];
    try {
      await this.add(entries);
      for (const w of waiters) w.resolve();
    } catch (err) {
      for (const w of waiters) w.reject(err);
    } finally {
      this.flushing = false;
      this.scheduleAppend();
    }
  }

  private slotId(key: string, slot: number): string {
    return `${key}#${slot}`;
  }

  private setHint(key: string, next: number): void {
    if (next <= 1) return;
    const cur = this.hints.get(key);
    if (cur !== undefined && cur >= next) return;
    this.hints.delete(key);
    this.hints.set(key, next);
    if (this.hints.size > HINT_CAPACITY) {
      const oldest = this.hints.keys().next().value;
      if (oldest !== undefined) this.hints.delete(oldest);
    }
  }

  private async exists(key: string, slot: number): Promise<boolean> {
    return (await this.col.findOne({ _id: this.slotId(key, slot) }, { projection: { _id: 1 } })) !== null;
  }

  /**
   * First free slot at or after `from` (any slot number; slots form a contiguous prefix). `belowTaken`: the caller
   * knows slot from-1 exists (it just failed to insert there), which saves a lookup.
   */
  private async firstFree(key: string, from: number, belowTaken = false): Promise<number> {
    if (!(await this.exists(key, from))) {
      // from may be past the end only if from-1 exists or from = 0; otherwise search below
      if (from === 0 || belowTaken || (await this.exists(key, from - 1))) return from;
      let lo = -1; // exists(-1) treated as true
      let hi = from; // known missing
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (await this.exists(key, mid)) lo = mid;
        else hi = mid;
      }
      return hi;
    }
    let lo = from; // known taken
    let step = 1;
    let hi = from + step;
    while (await this.exists(key, hi)) {
      lo = hi;
      step *= 2;
      hi = lo + step;
    }
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await this.exists(key, mid)) lo = mid;
      else hi = mid;
    }
    return hi;
  }

  /**
   * Appends ids to keys: one new slot per key holding all its ids. Optimistic batch insert at the hinted slots,
   * then slot-by-slot retries for the keys whose slot was taken.
   */
  async add(entries: Map<string, string[]>): Promise<void> {
    if (entries.size === 0) return;
    const keys = [...entries.keys()];
    const firstSlot = keys.map((k) => this.hints.get(k) ?? 0);
    const docs: PostingDoc[] = keys.map((k, i) => ({ _id: this.slotId(k, firstSlot[i]), r: entries.get(k)! }));
    const failed = new Set<number>();
    try {
      await this.col.insertMany(docs, { ordered: false });
    } catch (err) {
      const writeErrors = (err as { writeErrors?: { index: number; code?: number }[] }).writeErrors;
      if (!Array.isArray(writeErrors) || writeErrors.some((w) => w.code !== 11000)) throw err;
      for (const w of writeErrors) failed.add(w.index);
    }
    keys.forEach((k, i) => {
      if (!failed.has(i)) this.setHint(k, firstSlot[i] + 1);
    });
    if (failed.size === 0) return;
    // Second optimistic round, one batch: the slot after the taken one is usually free (a list without a hint that
    // has one slot, or a hint one behind another writer).
    const retry = [...failed];
    const retrySlot = new Map(retry.map((i) => [i, firstSlot[i] + 1]));
    const second = new Set<number>();
    try {
      await this.col.insertMany(
        retry.map((i) => ({ _id: this.slotId(keys[i], retrySlot.get(i)!), r: entries.get(keys[i])! })),
        { ordered: false },
      );
    } catch (err) {
      const writeErrors = (err as { writeErrors?: { index: number; code?: number }[] }).writeErrors;
      if (!Array.isArray(writeErrors) || writeErrors.some((w) => w.code !== 11000)) throw err;
      for (const w of writeErrors) second.add(retry[w.index]);
    }
    for (const i of retry) {
      if (!second.has(i)) this.setHint(keys[i], retrySlot.get(i)! + 1);
    }
    await Promise.all(
      [...second].map(async (i) => {
        const key = keys[i];
        let slot = retrySlot.get(i)! + 1; // retrySlot is known taken
        for (let attempt = 0; ; attempt++) {
          slot = await this.firstFree(key, slot, true);
          try {
            await this.col.insertOne({ _id: this.slotId(key, slot), r: entries.get(key)! });
            this.setHint(key, slot + 1);
            return;
          } catch (err) {
            if (!isDuplicateKey(err) || attempt > 50) throw err;
            slot += 1;
          }
        }
      }),
    );
  }

  /**
   * Reads slots from `from` upwards (at most `maxSlots`), stopping at the first missing slot.
   * Slots are fetched in parallel in growing batches (2, 4, 8, ... up to 32). The first batch is two slots (most
   * lists, e.g. an identifier's, have one: its slot and the proof of the end in one round trip), or, when this
   * process knows the list's length (a hint), every known slot and the one after it.
   */
  async read(key: string, from: number, maxSlots: number): Promise<{ slots: SlotRead[]; end: boolean }> {
    const slots: SlotRead[] = [];
    let next = from;
    const hint = this.hints.get(key);
    let batch = hint !== undefined && hint > from ? Math.min(hint - from + 1, 32) : 2;
    while (slots.length < maxSlots) {
      const n = Math.min(batch, maxSlots - slots.length);
      const docs = await Promise.all(Array.from({ length: n }, (_, i) => this.col.findOne({ _id: this.slotId(key, next + i) })));
      for (let i = 0; i < n; i++) {
        const d = docs[i];
        if (!d) return { slots, end: true };
        slots.push({ slot: next + i, ids: d.r });
      }
      next += n;
      batch = Math.min(batch * 2, 32);
    }
    return { slots, end: false };
  }

  /** Bulk load: writes slots for keys assumed to be new in this run (hints start at 0), falling back to add(). */
  async bulkAdd(entries: Map<string, string[]>, chunk = 256): Promise<void> {
    const expanded = new Map<string, string[][]>();
    for (const [k, ids] of entries) {
      const parts: string[][] = [];
      for (let i = 0; i < ids.length; i += chunk) parts.push(ids.slice(i, i + chunk));
      expanded.set(k, parts);
    }
    // one round per chunk index so that each add() call has at most one slot per key
    for (let round = 0; ; round++) {
      const batch = new Map<string, string[]>();
      for (const [k, parts] of expanded) if (parts[round]) batch.set(k, parts[round]);
      if (batch.size === 0) break;
      await this.add(batch);
    }
  }
}
