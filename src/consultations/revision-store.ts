/**
 * Single-writer changes of consultation documents, safe on MongoDB AND on FerretDB 1.24.
 *
 * Why: FerretDB 1.24 (SQLite backend) applies an update as read → modify → replace without re-checking the filter
 * atomically: measured, 8 concurrent `findOneAndUpdate({_id, state: 'a'}, …)` all "win", and 20 concurrent `$inc`
 * on one document end at 3. Only unique-key inserts (and deletes) are atomic there. So a conditional update cannot
 * decide a race, and two concurrent updates of one document can silently lose one of them.
 *
 * How: every change of a consultation first INSERTS a claim `{_id: "<consultation id>:<rev>"}` into
 * `consultation_changes` (unique `_id`: of all writers that read revision `rev`, exactly one insert succeeds), then
 * writes the new document (`rev + 1`) computed from the one it read. Whoever loses the insert waits until the winner
 * has written revision `rev + 1` and decides again on the new state (e.g. pick → 409 "already assigned"). The claim
 * carries the change itself until it is applied, so a writer that died between claim and write is completed by the
 * next writer once the claim is older than STALE_CLAIM_MS. Applied claims stay as the audit log of changes (who,
 * what, when) without payload.
 *
 * Side effects that must follow the document in order (the FHIR Encounter) run inside the claim, before the write,
 * so they are serialized per consultation too. What must be recorded after the write (the live queue's event, see
 * events.ts) runs before the claim is marked applied: when it fails, the claim stays pending and the start-up repair
 * records it.
 *
 * Notices to the patient belong to the change (`notices`): they are part of the claim, so they are decided together
 * with the state change, and written to the outbox right after the document. A writer that dies in between leaves the
 * claim pending; whoever completes it (start-up repair) writes them then. Their ids are fixed in the claim, so writing
 * them twice is harmless.
 */
import type { Collection, Db } from 'mongodb';
import { isDuplicateKey, type CollectionSpec } from '../platform/db/mongo.js';
import { HttpError } from '../platform/http/errors.js';
import { log } from '../platform/logging/logger.js';
import type { OutboxMessage, OutboxWriter } from '../notifications/outbox.js';
import type { ConsultationDoc, StatusHistoryEntry } from './types.js';

const CHANGES_COLLECTION = 'consultation_changes';
export const STALE_CLAIM_MS = 60_000;
const WAIT_MS = 10_000;

export const changesCollectionSpec: CollectionSpec = {
  name: CHANGES_COLLECTION,
  indexes: [
    { key: { consultation_id: 1, rev: 1 }, name: 'consultation_rev' },
    { key: { pending: 1, at: 1 }, name: 'pending' },
  ],
};

export interface Change {
  /** What happened: a lifecycle action, or a technical change (notify, encounter, rotate). */
  action: string;
  by: string;
  set: Partial<ConsultationDoc>;
  /** Appended to status_history. */
  push?: StatusHistoryEntry;
  /** False when the change cannot affect the Encounter (then the side effect is skipped). */
  affectsEncounter: boolean;
  /** Notices to the patient this change sends (written to the outbox once the change is applied). */
  notices?: OutboxMessage[];
}

export interface ChangeClaim {
  _id: string;
  consultation_id: string;
  /** The revision the change was decided on (the document becomes rev + 1). */
  rev: number;
  action: string;
  by: string;
  at: Date;
  /** True until the new revision is written. */
  pending: boolean;
  /** The change, kept until applied (so another writer can complete it). */
  change?: Pick<Change, 'set' | 'push' | 'affectsEncounter' | 'notices'>;
  applied_at?: Date;
}

/** Returns the change, or null when nothing is to be done (the document is returned as it is). */
type Decide = (doc: ConsultationDoc) => Change | null | Promise<Change | null>;
type SideEffect = (next: ConsultationDoc, previous: ConsultationDoc) => Promise<void>;
/** Called once the document is written; `late` when completing a change whose writer stopped after its write. */
type AfterWrite = (next: ConsultationDoc, change: { action: string; at: Date; late: boolean }) => Promise<void>;

function applyChange(doc: ConsultationDoc, change: Pick<Change, 'set' | 'push'>, now: Date): ConsultationDoc {
  return {
    ...doc,
    ...change.set,
    status_history: change.push ? [...doc.status_history, change.push] : doc.status_history,
    rev: doc.rev + 1,
    updated_at: now,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RevisionStore {
  readonly changes: Collection<ChangeClaim>;

  constructor(
    db: Db,
    readonly collection: Collection<ConsultationDoc>,
    /** Writes the Encounter; absent (CLI) → changes affecting the Encounter are refused. */
    private readonly sideEffect?: SideEffect,
    private readonly now: () => Date = () => new Date(),
    private readonly afterWrite?: AfterWrite,
    /** Where the notices of applied changes go; absent (CLI) → changes with notices are refused. */
    private readonly outbox?: OutboxWriter,
  ) {
    this.changes = db.collection<ChangeClaim>(CHANGES_COLLECTION);
  }

  /**
   * Decides and applies one change of consultation `id`. `decide` sees the current document and returns the change
   * or throws (404/403/409 …); it is called again when another writer got there first.
   */
  async mutate(id: string, decide: Decide): Promise<ConsultationDoc> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const doc = await this.collection.findOne({ _id: id });
      if (!doc) throw new HttpError(404, 'not_found', `Consultation ${id} not found`);
      const change = await decide(doc);
      if (!change) return doc;
      if (change.notices?.length && !this.outbox) throw new Error('This change sends notices and can only be applied by the engine');
      const claimId = `${id}:${doc.rev}`;
      const now = this.now();
      try {
        await this.changes.insertOne({
          _id: claimId,
          consultation_id: id,
          rev: doc.rev,
          action: change.action,
          by: change.by,
          at: now,
          pending: true,
          change: { set: change.set, push: change.push, affectsEncounter: change.affectsEncounter, ...(change.notices?.length ? { notices: change.notices } : {}) },
        });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // Another writer holds this revision: wait for its result (or complete it when it died), then decide again.
        await this.waitPast(id, doc.rev, claimId, deadline);
        continue;
      }
      const next = applyChange(doc, change, now);
      try {
        if (change.affectsEncounter) await this.runSideEffect(next, doc);
        await this.collection.replaceOne({ _id: id, rev: doc.rev }, next);
      } catch (err) {
        // Nothing written (or only the side effect): free the revision for the next writer.
        await this.changes.deleteOne({ _id: claimId }).catch(() => undefined);
        throw err;
      }
      if (change.notices?.length) {
        try {
          await this.outbox!.write(change.notices);
        } catch (err) {
          // The change is applied; its claim stays pending with the notices, and start-up repair writes them.
          log().error({ consultationId: id, err: { message: (err as Error).message } }, 'writing notices to the outbox failed; start-up repair writes them');
          return next;
        }
      }
      // The change is written: a failure to record it leaves the claim pending for the start-up repair.
      if (this.afterWrite && !(await this.afterWrite(next, { action: change.action, at: now, late: false }).then(() => true, () => false))) return next;
      await this.changes
        .updateOne({ _id: claimId }, { $set: { pending: false, applied_at: this.now() }, $unset: { change: '' } })
        .catch(() => undefined);
      return next;
    }
  }

  private async runSideEffect(next: ConsultationDoc, previous: ConsultationDoc): Promise<void> {
    if (!this.sideEffect) throw new Error('This change updates the FHIR Encounter and can only be applied by the engine');
    await this.sideEffect(next, previous);
  }

  /** Waits until the document is past `rev`; completes the claim when its writer is gone. */
  private async waitPast(id: string, rev: number, claimId: string, deadline: number): Promise<void> {
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      const doc = await this.collection.findOne({ _id: id }, { projection: { rev: 1 } });
      if (!doc || doc.rev > rev) return;
      const claim = await this.changes.findOne({ _id: claimId });
      if (!claim) return; // released by a failed writer: try again
      if (this.now().getTime() - claim.at.getTime() > STALE_CLAIM_MS) {
        await this.complete(claim);
        return;
      }
      if (Date.now() > deadline) {
        throw new HttpError(409, 'request_conflict', `Another change of consultation ${id} is in progress; retry`);
      }
      await sleep(delay);
    }
  }

  /**
   * Applies a claimed change whose writer stopped before writing the document, and writes its notices (also when
   * the document was written but the notices were not: the document is past the claim's revision only through it).
   */
  async complete(claim: ChangeClaim): Promise<void> {
    const doc = await this.collection.findOne({ _id: claim.consultation_id });
    if (doc && doc.rev === claim.rev && claim.change) {
      const next = applyChange(doc, claim.change, claim.at);
      if (claim.change.affectsEncounter) await this.runSideEffect(next, doc);
      await this.collection.replaceOne({ _id: doc._id, rev: doc.rev }, next);
      await this.afterWrite?.(next, { action: claim.action, at: claim.at, late: false });
    } else if (doc && doc.rev > claim.rev && claim.change && this.afterWrite) {
      // Written, not recorded: record it with the change's own fields over the current document.
      const written = { ...doc, ...claim.change.set, rev: claim.rev + 1 } as ConsultationDoc;
      await this.afterWrite(written, { action: claim.action, at: claim.at, late: true });
    }
    if (doc && doc.rev >= claim.rev && claim.change?.notices?.length) {
      if (!this.outbox) throw new Error('This change sends notices and can only be completed by the engine');
      await this.outbox.write(claim.change.notices);
    }
    await this.changes.updateOne({ _id: claim._id }, { $set: { pending: false, applied_at: this.now() }, $unset: { change: '' } });
  }

  /** Start-up: completes changes left pending by a stopped engine (older than STALE_CLAIM_MS). */
  async completeStale(limit = 1000): Promise<number> {
    const cutoff = new Date(this.now().getTime() - STALE_CLAIM_MS);
    const stale = await this.changes.find({ pending: true, at: { $lt: cutoff } }).limit(limit).toArray();
    for (const claim of stale) await this.complete(claim);
    return stale.length;
  }
}
