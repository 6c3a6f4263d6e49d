/**
 * The outbox: notices to patients, written in the same change as the state change they tell about and delivered by
 * the job `notifications.deliver` (delivery-job.ts), one job per message, with retries and backoff.
 *
 * A message names its recipient by reference (`Patient/<id>`), never by contact details: the delivery job reads the
 * phone number and e-mail address from the Patient when it sends, so they are not copied into the outbox, the jobs or
 * the logs. Its id is decided by the writer from the change it belongs to, so writing it again (a change completed
 * after a crash) is a duplicate key, not a second message.
 */
import type { Collection, Db } from 'mongodb';
import { isDuplicateKey, type CollectionSpec } from '../platform/db/mongo.js';

const OUTBOX_COLLECTION = 'outbox';
export const DELIVER_NOTIFICATION_JOB = 'notifications.deliver';

/** What a patient can be told. */
export type NoticeKind = 'consultation.session_links' | 'consultation.completed';

/**
 * `transactional`: a service message about the patient's own care (always allowed). `marketing`: anything else; never
 * delivered to a patient tagged no-marketing (the delivery job checks the tag when it sends).
 */
type NoticeCategory = 'transactional' | 'marketing';

export type Channel = 'email' | 'sms';
export const CHANNELS: Channel[] = ['email', 'sms'];

export interface ChannelState {
  status: 'pending' | 'sent' | 'failed' | 'skipped';
  /** Why nothing was sent on this channel: `not_configured` (no SMTP / SMS provider), `no_contact` (the Patient has none). */
  reason?: 'not_configured' | 'no_contact';
  attempts: number;
  sent_at?: Date;
  /** The provider's or SMTP server's id of the accepted message. */
  provider_id?: string;
  /** The last failure, without contact details (status codes and error codes only). */
  last_error?: string;
}

export type OutboxStatus = 'pending' | 'sent' | 'failed' | 'skipped' | 'suppressed';

export interface OutboxMessage {
  _id: string;
  /** The legal entity whose patient this is (its jobs list shows the delivery). */
  tenant: string;
  kind: NoticeKind;
  category: NoticeCategory;
  recipient: { reference: string };
  payload: { consultation_id: string; chat_url?: string; video_url?: string; starts_at?: Date; ends_at?: Date };
  /**
   * pending until the delivery job has run; sent (at least one channel delivered), skipped (no channel could be
   * used), suppressed (marketing to a no-marketing patient), failed (a channel still failed after the last attempt).
   */
  status: OutboxStatus;
  channels: Partial<Record<Channel, ChannelState>>;
  attempts: number;
  /** The delivery job (GET /api/jobs/:id), recorded by its first run. */
  job_id?: string;
  created_at: Date;
  updated_at: Date;
}

export const outboxCollectionSpec: CollectionSpec = {
  name: OUTBOX_COLLECTION,
  indexes: [
    { key: { status: 1, created_at: 1 }, name: 'status_created' },
    { key: { 'payload.consultation_id': 1 }, name: 'consultation' },
    { key: { tenant: 1, created_at: 1 }, name: 'tenant_created' },
  ],
};

export function outboxCollection(db: Db): Collection<OutboxMessage> {
  return db.collection<OutboxMessage>(OUTBOX_COLLECTION);
}

/** A new message, pending, with no channel tried yet. */
export function newOutboxMessage(m: Pick<OutboxMessage, '_id' | 'tenant' | 'kind' | 'category' | 'recipient' | 'payload'>, now: Date): OutboxMessage {
  return { ...m, status: 'pending', channels: {}, attempts: 0, created_at: now, updated_at: now };
}

/** Writes messages into the outbox and hands each to its delivery job. */
export interface OutboxWriter {
  write(messages: OutboxMessage[]): Promise<void>;
}

/** Schedules the delivery job of one message; resolves with the job id. */
type ScheduleDelivery = (message: Pick<OutboxMessage, '_id' | 'tenant'>) => Promise<string>;

export class Outbox implements OutboxWriter {
  readonly collection: Collection<OutboxMessage>;

  constructor(
    db: Db,
    private readonly schedule: ScheduleDelivery,
  ) {
    this.collection = outboxCollection(db);
  }

  /**
   * Inserts each message (one already there is left as it is) and schedules the delivery of those still pending.
   * Safe to repeat: the job is keyed by the message id, a message already delivered is not sent again.
   */
  async write(messages: OutboxMessage[]): Promise<void> {
    for (const message of messages) {
      try {
        await this.collection.insertOne(message);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      // Only the delivery job writes the message after this (on FerretDB an update rewrites the whole document, so a
      // second writer could undo the job's); it records its own id.
      const stored = await this.collection.findOne({ _id: message._id }, { projection: { status: 1 } });
      if (stored?.status === 'pending') await this.schedule(message);
    }
  }

  /**
   * Start-up: messages still pending are handed to their job again (the engine may have stopped between writing and
   * scheduling); a message whose job is still pending keeps that job (the job is keyed by the message id).
   */
  async schedulePending(limit = 1000): Promise<number> {
    const pending = await this.collection.find({ status: 'pending' }).sort({ created_at: 1 }).limit(limit).toArray();
    await this.write(pending);
    return pending.length;
  }
}
