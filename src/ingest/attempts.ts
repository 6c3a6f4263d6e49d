/**
 * One processing at a time per stored message.
 *
 * Ingest processes a message right after inserting it, and the unique dedup key makes that insert the claim of the
 * first attempt. Every later attempt (a sender's resend of a message that failed, an operator's replay, a replay job)
 * claims `message:<id>:attempt:<n>` (n = attempts recorded + 1) with a unique insert, which exactly one caller wins
 * on MongoDB and FerretDB alike; the others wait for the winner's outcome and answer with it instead of processing
 * the same message again. A first ingest still running (status `received`, younger than the ingest lease) is waited
 * for the same way. A holder that died is taken over once its claim is older than the same lease (an attempt runs no
 * longer than a first ingest may). An attempt that ends without recording anything
 * (its work found the message finished already) gives its claim up at once, so later callers do not wait for an
 * outcome that will never be recorded.
 *
 * Recovery (recovery.ts) calls with `wait: false`: a message somebody else is processing is skipped, not waited for.
 */
import { claimWithTakeover, releaseClaim } from '../platform/db/claims.js';
import type { MessageDoc, MessageStore } from './message-store.js';

/** How long a first ingest (status `received`, no attempt recorded) counts as still running (default; INGEST_LEASE_S). */
const INGEST_LEASE_MS = 120_000;
/** How long a caller waits for another's attempt before answering with the message as it stands. */
const WAIT_MS = 30_000;
const POLL_MS = 50;

export class MessageBusyError extends Error {
  constructor(readonly messageId: string) {
    super(`Message ${messageId} is being processed by another request`);
    this.name = 'MessageBusyError';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface AttemptOptions {
  /** How long a first ingest counts as running (default INGEST_LEASE_MS). */
  leaseMs?: number;
  /** false: throw MessageBusyError at once instead of waiting for somebody else's attempt. */
  wait?: boolean;
}

/**
 * Runs `work` as the next processing attempt of `doc`, unless another caller is processing it: then waits for that
 * attempt and returns the message as it recorded it. `work` gets the message as last read (re-read after waiting).
 * Throws MessageBusyError when the other attempt does not finish within WAIT_MS (at once with `wait: false`).
 */
export async function exclusiveAttempt(
  store: MessageStore,
  doc: MessageDoc,
  work: (current: MessageDoc) => Promise<MessageDoc>,
  options: AttemptOptions = {},
): Promise<MessageDoc> {
  const db = store.db;
  const leaseMs = options.leaseMs ?? INGEST_LEASE_MS;
  let current = doc;
  const deadline = Date.now() + WAIT_MS;
  const reread = async () => {
    await sleep(POLL_MS);
    const fresh = await store.get(current._id);
    if (!fresh) throw new MessageBusyError(current._id); // deleted meanwhile (retention)
    return fresh;
  };
  let waitingFor: number | undefined; // the attempt another caller claimed before us
  while (Date.now() < deadline) {
    if (current.status === 'received' && (current.attempts ?? 0) === 0 && Date.now() - current.receivedAt.getTime() < leaseMs) {
      if (options.wait === false) throw new MessageBusyError(current._id);
      current = await reread(); // the first ingest is still running
      continue;
    }
    if (waitingFor !== undefined && (current.attempts ?? 0) >= waitingFor) return current; // recorded: its outcome
    const n = (current.attempts ?? 0) + 1;
    const { key } = await claimWithTakeover(db, `message:${current._id}:attempt:${n}`, leaseMs);
    if (key) {
      let done: MessageDoc;
      try {
        done = await work(current);
      } catch (err) {
        await releaseClaim(db, key).catch(() => undefined); // nothing recorded: the attempt may be made again at once
        throw err;
      }
      // Nothing recorded (the message was finished already): attempt n is free again for whoever needs it.
      if ((done.attempts ?? 0) < n) await releaseClaim(db, key).catch(() => undefined);
      return done;
    }
    // Another caller makes attempt n: wait for its outcome (or for its claim to be released, then try again).
    if (options.wait === false) throw new MessageBusyError(current._id);
    waitingFor = n;
    current = await reread();
  }
  throw new MessageBusyError(current._id);
}
