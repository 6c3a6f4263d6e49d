/**
 * Recovery of messages left unfinished by an engine that died (killed, crashed, lost its machine) between storing a
 * message and recording its outcome: without it they stay `received` until the sender happens to resend.
 *
 * At start and every INGEST_RECOVERY_INTERVAL_S, each engine looks for messages still `received` after the ingest
 * lease (INGEST_LEASE_S: an ingest that has not recorded an outcome by then is taken for dead) and processes them
 * with trigger `recovery`. Several engines on one database may find the same message: each claims its first attempt
 * with a unique insert (attempts.ts, `message:<id>:attempt:1`), exactly one wins and processes it, the others skip
 * it. The outcome (the AppRec, the Pridok answer) is recorded like any other, so a later resend is answered from it.
 */
import { log } from '../platform/logging/logger.js';
import { exclusiveAttempt, MessageBusyError } from './attempts.js';
import type { MessageProcessor } from './replay.js';
import type { MessageDoc, MessageSource, MessageStore } from './message-store.js';

/** Messages looked at per round. */
const BATCH = 200;
/** Messages processed at once by one engine's recovery. */
const CONCURRENCY = 4;

interface RecoveryOptions {
  /** A `received` message older than this is taken for unfinished. */
  leaseMs: number;
  /** Rounds after the first (0: only the round at start). */
  intervalMs: number;
}

interface RecoveryRound {
  found: number;
  processed: number;
  /** Processed by another engine or request meanwhile. */
  skipped: number;
  errors: number;
}

export class RecoveryService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(
    private readonly store: MessageStore,
    private readonly processors: Record<MessageSource, MessageProcessor>,
    private readonly options: RecoveryOptions,
  ) {}

  /** One round: every unfinished message past the lease (up to BATCH), processed once. */
  async runOnce(now = Date.now()): Promise<RecoveryRound> {
    const docs = await this.store.collection
      .find({ status: 'received', receivedAt: { $lt: new Date(now - this.options.leaseMs) } })
      .sort({ receivedAt: 1, _id: 1 })
      .limit(BATCH)
      .toArray();
    const round: RecoveryRound = { found: docs.length, processed: 0, skipped: 0, errors: 0 };
    let next = 0;
    const worker = async () => {
      while (next < docs.length && !this.stopped) {
        const doc = docs[next++];
        try {
          const done = await this.recoverOne(doc);
          if (done) round.processed++;
          else round.skipped++;
        } catch (err) {
          round.errors++;
          log().warn({ messageId: doc._id, err: { message: (err as Error).message } }, 'recovery of an unfinished message failed');
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    if (round.found > 0) log().info({ ...round }, 'unfinished messages recovered');
    return round;
  }

  /** Processes one unfinished message unless somebody else does or did; true when it was processed here. */
  private async recoverOne(doc: MessageDoc): Promise<boolean> {
    let ran = false;
    try {
      await exclusiveAttempt(
        this.store,
        doc,
        async (current) => {
          if (current.status !== 'received') return current;
          ran = true;
          return this.processors[current.source].process(current, await this.store.raw(current), 'recovery');
        },
        { leaseMs: this.options.leaseMs, wait: false },
      );
    } catch (err) {
      if (err instanceof MessageBusyError) return false;
      throw err;
    }
    return ran;
  }

  /** Runs a round now and then every intervalMs (a round still going is not started twice). */
  start(onError: (err: unknown) => void = () => {}): void {
    this.stopped = false;
    const run = () => {
      if (this.running || this.stopped) return;
      this.running = this.drain()
        .catch(onError)
        .finally(() => (this.running = undefined));
    };
    run();
    if (this.options.intervalMs > 0) {
      this.timer = setInterval(run, this.options.intervalMs);
      this.timer.unref();
    }
  }

  /** Rounds until one finds less than a full batch or processes nothing (a backlog after a crash is worked off at once). */
  private async drain(): Promise<void> {
    for (;;) {
      const r = await this.runOnce();
      if (r.found < BATCH || r.processed === 0 || this.stopped) return;
    }
  }

  /** Stops the rounds and waits for the one in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
