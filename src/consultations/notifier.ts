/**
 * How patients are told about their consultation. The only message the consultation service sends is the
 * transactional "your consultation has started: chat / video links" message; there is deliberately no method for
 * anything else, so patients referred by an insurer (tagged no-marketing, see patient-tags.ts) can never receive
 * marketing from this path.
 *
 * The default `OutboxNotifier` writes the message to the `outbox` collection, which a delivery worker (SMS / e-mail
 * gateway) drains. The message holds a reference to the patient, never contact details: the sender resolves them
 * from the FHIR Patient at delivery time, so no phone number or e-mail is copied around.
 */
import { randomUUID } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import type { CollectionSpec } from '../db/mongo.js';

export interface SessionLinksMessage {
  consultation_id: string;
  patient_id: string;
  chat_url: string;
  video_url: string;
  starts_at: Date;
}

export interface Notifier {
  /** Sends the chat/video session links to the patient; resolves with the message id. */
  sendSessionLinks(message: SessionLinksMessage): Promise<{ id: string }>;
}

export interface OutboxMessage {
  _id: string;
  kind: 'consultation.session_links';
  /** Always transactional: the outbox of this service never carries marketing. */
  category: 'transactional';
  recipient: { reference: string };
  channels: ('sms' | 'email')[];
  payload: { consultation_id: string; chat_url: string; video_url: string; starts_at: Date };
  status: 'pending' | 'sent' | 'failed';
  attempts: number;
  created_at: Date;
}

export const OUTBOX_COLLECTION = 'outbox';

export const outboxCollectionSpec: CollectionSpec = {
  name: OUTBOX_COLLECTION,
  indexes: [{ key: { status: 1, created_at: 1 }, name: 'status_created' }, { key: { 'payload.consultation_id': 1 }, name: 'consultation' }],
};

export class OutboxNotifier implements Notifier {
  private readonly outbox: Collection<OutboxMessage>;

  constructor(db: Db) {
    this.outbox = db.collection<OutboxMessage>(OUTBOX_COLLECTION);
  }

  async sendSessionLinks(message: SessionLinksMessage): Promise<{ id: string }> {
    const doc: OutboxMessage = {
      _id: randomUUID(),
      kind: 'consultation.session_links',
      category: 'transactional',
      recipient: { reference: `Patient/${message.patient_id}` },
      channels: ['sms', 'email'],
      payload: {
        consultation_id: message.consultation_id,
        chat_url: message.chat_url,
        video_url: message.video_url,
        starts_at: message.starts_at,
      },
      status: 'pending',
      attempts: 0,
      created_at: new Date(),
    };
    await this.outbox.insertOne(doc);
    return { id: doc._id };
  }
}
