/**
 * Group commit of single-document inserts: `insert(doc)` calls arriving while earlier batches are in flight (or in the
 * same turn of the event loop) are sent together as one `insertMany({ordered: false})`, and each caller learns the
 * fate of its own document. Each document is still inserted on its own: a duplicate `_id` (or unique-index) error
 * rejects only that caller, with the server's error (code 11000), so "exactly one insert wins" decisions keep working
 * exactly as with `insertOne`.
 *
 * Why: FerretDB/SQLite pays its cost per command (one SQLite transaction each): measured on the development machine,
 * ≈ 1 100–1 550 single inserts/s (sequential / 32 concurrent callers) against ≈ 11 000 documents/s in batches of 32.
 * At low load nothing waits: a lone insert goes out at once as an `insertOne`.
 */
import type { Collection, Document, OptionalUnlessRequiredId } from 'mongodb';

interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface WriteErrorLike {
  index: number;
  code?: number;
  errmsg?: string;
  errInfo?: unknown;
}

interface InsertBatcherOptions {
  /** Operations per batch (default 256). */
  maxBatch?: number;
  /** Batches in flight at once (default 2); further operations queue and go out in the next batch. */
  maxInFlight?: number;
}

/**
 * The group-commit mechanism shared by the batchers: operations queued in one turn of the event loop, or while
 * `maxInFlight` batches are being written, go out together; a lone operation goes out at once on its own.
 */
abstract class GroupCommit<T> {
  private queue: Pending<T>[] = [];
  private inFlight = 0;
  private scheduled = false;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor(options: InsertBatcherOptions) {
    this.maxBatch = options.maxBatch ?? 256;
    this.maxInFlight = options.maxInFlight ?? 2;
  }

  /** One operation on its own (insertOne, updateOne). */
  protected abstract sendOne(item: T): Promise<unknown>;
  /** Several operations in one unordered command (insertMany, bulkWrite). */
  protected abstract sendMany(items: T[]): Promise<unknown>;

  protected enqueue(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // Collect what arrives in this turn of the event loop before sending.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      void this.send(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  private async send(batch: Pending<T>[]): Promise<void> {
    if (batch.length === 1) {
      try {
        await this.sendOne(batch[0].item);
        batch[0].resolve();
      } catch (err) {
        batch[0].reject(err);
      }
      return;
    }
    try {
      await this.sendMany(batch.map((p) => p.item));
      for (const p of batch) p.resolve();
    } catch (err) {
      const e = err as { writeErrors?: WriteErrorLike[] | WriteErrorLike; writeConcernError?: unknown; result?: { writeConcernErrors?: unknown[] } };
      const writeErrors = e.writeErrors === undefined ? undefined : Array.isArray(e.writeErrors) ? e.writeErrors : [e.writeErrors];
      const concernFailed = e.writeConcernError !== undefined || (e.result?.writeConcernErrors?.length ?? 0) > 0;
      if (!writeErrors || writeErrors.length === 0 || concernFailed || writeErrors.some((w) => typeof w.index !== 'number')) {
        for (const p of batch) p.reject(err);
        return;
      }
      // ordered:false: every operation without a write error was applied.
      const failed = new Map(writeErrors.map((w) => [w.index, w]));
      batch.forEach((p, i) => {
        const w = failed.get(i);
        if (!w) p.resolve();
        else p.reject(Object.assign(new Error(w.errmsg ?? 'write failed'), { name: 'MongoServerError', code: w.code, errmsg: w.errmsg, errInfo: w.errInfo }));
      });
    }
  }
}

export class InsertBatcher<D extends Document & { _id: unknown }> extends GroupCommit<D> {
  constructor(
    private readonly col: Collection<D>,
    options: InsertBatcherOptions = {},
  ) {
    super(options);
  }

  /** Inserts one document (resolves when it is written; rejects with the server's error for this document). */
  insert(doc: D): Promise<void> {
    return this.enqueue(doc);
  }

  protected sendOne(doc: D): Promise<unknown> {
    return this.col.insertOne(doc as OptionalUnlessRequiredId<D>);
  }

  protected sendMany(docs: D[]): Promise<unknown> {
    return this.col.insertMany(docs as OptionalUnlessRequiredId<D>[], { ordered: false });
  }
}

interface UpdateOp {
  filter: Document;
  update: Document;
}

/**
 * Group commit of `updateOne` calls on distinct documents (e.g. each message's outcome): sent together as one
 * `bulkWrite({ordered: false})`. Only for updates that never race each other on one document (FerretDB applies each
 * update as a read-modify-write). A lone update goes out at once as `updateOne`.
 */
export class UpdateBatcher<D extends Document> extends GroupCommit<UpdateOp> {
  constructor(
    private readonly col: Collection<D>,
    options: InsertBatcherOptions = {},
  ) {
    super(options);
  }

  updateOne(filter: Document, update: Document): Promise<void> {
    return this.enqueue({ filter, update });
  }

  protected sendOne(op: UpdateOp): Promise<unknown> {
    return this.col.updateOne(op.filter as never, op.update as never);
  }

  protected sendMany(ops: UpdateOp[]): Promise<unknown> {
    return this.col.bulkWrite(ops.map((op) => ({ updateOne: { filter: op.filter, update: op.update } })) as never, { ordered: false });
  }
}
