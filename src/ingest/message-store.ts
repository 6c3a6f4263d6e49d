/**
 * The message store: every inbound message (henvisning XML, Pridok JSON, HL7 v2) is written here BEFORE it is
 * processed, with its raw bytes, and keeps the outcome of every processing run (ingest and replays).
 *
 * Document (collection `messages`):
 *   _id (UUID), tenant (the legal entity that owns it), source ('henvisning' | 'pridok' | 'hl7v2'), contentType, receivedAt,
 *   size, sha256, raw (BSON binary, up to MESSAGE_INLINE_MAX_BYTES) or rawMedia {key, sha256, size} (media storage),
 *   dedupKey (unique: `<source>:<tenant>:<sender id>:<MsgId>` for henvisning, `<source>:<tenant>:<JournalGuid>` for
 *   Pridok, `<source>:<tenant>:<MSH-3>^<MSH-4>:<MSH-10>` for HL7 v2, or `<source>:<tenant>:none:<_id>` when the
 *   message had none: the same MsgId from two senders, or sent to two tenants, is two messages),
 *   externalId (MsgId / JournalGuid), messageType, format, sender / receiver (organisation names and ids only),
 *   status received → processed | failed | rejected, error {code, message, details}, warnings,
 *   fhir [{reference, action, versionId}], mapping {name, version, sha256}, receipt (the AppRec, ACK or HTTP answer),
 *   runs [{at, trigger, status, error?, mapping?}], attempts, updatedAt, retainUntil, expiresAt (TTL).
 *
 * Retention: `retainUntil` = receivedAt + MESSAGE_RETENTION_DAYS. Messages kept inline also carry it as `expiresAt`,
 * which a TTL index deletes on MongoDB. Messages whose raw bytes are in media storage have no `expiresAt`: the TTL
 * monitor would delete the document and leave the bytes behind, so the store's sweep (hourly, and at start) erases
 * their media object first and then the document. FerretDB 1.24 (SQLite) does not delete by TTL index at all; the
 * sweep deletes expired inline messages there too.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Binary, type Collection, type Db, type Filter } from 'mongodb';
import { InsertBatcher, UpdateBatcher } from '../platform/db/insert-batcher.js';
import { isDuplicateKey, type CollectionSpec } from '../platform/db/mongo.js';
import type { MappingRef } from '../mapping/registry.js';
import type { AppliedResource } from './apply.js';
import type { MediaStorage } from '../platform/storage/media-storage.js';

const MESSAGES_COLLECTION = 'messages';

export const messageCollections: CollectionSpec[] = [
  {
    name: MESSAGES_COLLECTION,
    indexes: [
      { key: { dedupKey: 1 }, name: 'dedup_key', unique: true },
      { key: { tenant: 1, receivedAt: -1 }, name: 'tenant_received' },
      { key: { receivedAt: -1 }, name: 'received' },
      { key: { status: 1, receivedAt: -1 }, name: 'status_received' },
      { key: { source: 1, receivedAt: -1 }, name: 'source_received' },
      { key: { externalId: 1 }, name: 'external_id' },
      { key: { 'mapping.version': 1, receivedAt: -1 }, name: 'mapping_version' },
      { key: { expiresAt: 1 }, name: 'retention_ttl', expireAfterSeconds: 0 },
      { key: { retainUntil: 1 }, name: 'retain_until' },
    ],
  },
];

export type MessageSource = 'henvisning' | 'pridok' | 'hl7v2';
export type MessageStatus = 'received' | 'processed' | 'failed' | 'rejected';

export interface PartySummary {
  name?: string;
  /** Organisation identifiers only (HER-id, organisasjonsnummer …), never person numbers. */
  ids?: { type: string; value: string }[];
  department?: PartySummary;
}

export interface MessageError {
  /** AppRec 8221 code (T01, E31 …), or an internal code (validation_failed, processing_failed …). */
  code: string;
  message: string;
  details?: unknown;
}

/**
 * An error of our side (mapping, FHIR store) for the message store: `message` names what failed without quoting data
 * (it is listed with messages:read); the underlying message, which may quote values, goes to `details`
 * (messages:read_raw only).
 */
export function internalError(code: string, err: unknown): MessageError {
  const e = err as { message?: string; status?: number; code?: unknown; diagnostics?: string };
  const what = code === 'mapping_failed' ? 'The mapping failed' : code === 'fhir_store_failed' ? 'The FHIR store refused a write' : 'Processing failed';
  const details: Record<string, unknown> = { message: e.message ?? String(err) };
  if (e.status !== undefined) details.status = e.status;
  if (e.code !== undefined) details.code = e.code;
  if (e.diagnostics !== undefined && e.diagnostics !== e.message) details.diagnostics = e.diagnostics;
  return { code, message: `${what}${e.status !== undefined ? ` (HTTP ${e.status})` : ''}`, details };
}

export interface Receipt {
  kind: 'apprec' | 'http' | 'ack';
  /** AppRec status (1, 2), HTTP status, or the HL7 v2 acknowledgement code (AA, AE, AR). */
  status: string;
  contentType: string;
  body: string;
  id?: string;
  at: Date;
}

interface MessageRun {
  at: Date;
  /** recovery: a message left unfinished by an engine that died, processed by another (recovery.ts). */
  trigger: 'ingest' | 'replay' | 'retry' | 'recovery';
  status: MessageStatus;
  error?: MessageError;
  mapping?: MappingRef;
  ms?: number;
}

export interface MessageDoc {
  _id: string;
  /** The legal entity that owns the message (the receiver's tenant; see src/platform/tenancy). */
  tenant: string;
  source: MessageSource;
  contentType: string;
  receivedAt: Date;
  size: number;
  sha256: string;
  raw?: Binary;
  rawMedia?: { key: string; sha256: string; size: number };
  dedupKey: string;
  externalId?: string;
  messageType?: string;
  format?: string;
  sender?: PartySummary;
  receiver?: PartySummary;
  status: MessageStatus;
  error?: MessageError;
  warnings?: string[];
  fhir?: AppliedResource[];
  mapping?: MappingRef;
  receipt?: Receipt;
  runs: MessageRun[];
  attempts: number;
  updatedAt: Date;
  /** End of retention (every message; older documents have only expiresAt). */
  retainUntil?: Date;
  /** The TTL field: set only while the raw bytes are inline (see the header). */
  expiresAt?: Date;
}

interface NewMessage {
  tenant: string;
  source: MessageSource;
  contentType: string;
  bytes: Buffer;
  externalId?: string;
  /** Who assigned externalId (the sender's HER-id for henvisning): part of the dedup key when given. */
  externalIdIssuer?: string;
  messageType?: string;
  format?: string;
  sender?: PartySummary;
  receiver?: PartySummary;
  receivedAt?: Date;
  /** SHA-256 (hex) of `bytes` when the caller computed it already (henvisning: in a worker thread, off the event loop). */
  sha256?: string;
}

export interface Outcome {
  status: Exclude<MessageStatus, 'received'>;
  /** Envelope facts learnt while processing (format, message type). */
  facts?: Partial<Pick<MessageDoc, 'messageType' | 'format'>>;
  error?: MessageError;
  warnings?: string[];
  fhir?: AppliedResource[];
  mapping?: MappingRef;
  receipt?: Receipt;
  trigger: MessageRun['trigger'];
  ms?: number;
}

export interface MessageQuery {
  /** Only this tenant's messages (every API query sets it). */
  tenant?: string;
  source?: MessageSource;
  status?: MessageStatus;
  from?: Date;
  to?: Date;
  externalId?: string;
  mappingName?: string;
  mappingVersion?: string;
  ids?: string[];
}

const MAX_RUNS_KEPT = 20;

export class DuplicateMessageError extends Error {
  constructor(readonly existing: MessageDoc) {
    super('Message already received');
    this.name = 'DuplicateMessageError';
  }
}

export class MessageStore {
  readonly collection: Collection<MessageDoc>;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  /** Group commit of new messages (the unique dedup key still decides for each message on its own). */
  private readonly inserts: InsertBatcher<MessageDoc>;
  /** Group commit of outcomes (each message's outcome is written by the one run that processed it). */
  private readonly outcomes: UpdateBatcher<MessageDoc>;

  constructor(
    readonly db: Db,
    private readonly media: MediaStorage,
    private readonly options: { retentionDays: number; inlineMaxBytes: number },
  ) {
    this.collection = db.collection<MessageDoc>(MESSAGES_COLLECTION);
    this.inserts = new InsertBatcher(this.collection);
    this.outcomes = new UpdateBatcher(this.collection);
  }

  /**
   * Stores a new message with status `received`. A message whose dedup key was seen before is not stored again:
   * DuplicateMessageError carries the stored one.
   */
  async insert(m: NewMessage): Promise<MessageDoc> {
    const _id = randomUUID();
    const receivedAt = m.receivedAt ?? new Date();
    const sha256 = m.sha256 ?? createHash('sha256').update(m.bytes).digest('hex');
    const scope = m.externalIdIssuer !== undefined ? `${m.source}:${m.tenant}:${m.externalIdIssuer}` : `${m.source}:${m.tenant}`;
    const doc: MessageDoc = {
      _id,
      tenant: m.tenant,
      source: m.source,
      contentType: m.contentType,
      receivedAt,
      size: m.bytes.length,
      sha256,
      dedupKey: m.externalId ? `${scope}:${m.externalId}` : `${m.source}:${m.tenant}:none:${_id}`,
      externalId: m.externalId,
      messageType: m.messageType,
      format: m.format,
      sender: m.sender,
      receiver: m.receiver,
      status: 'received',
      runs: [],
      attempts: 0,
      updatedAt: receivedAt,
      retainUntil: new Date(receivedAt.getTime() + this.options.retentionDays * 86_400_000),
    };
    if (m.bytes.length <= this.options.inlineMaxBytes) {
      doc.raw = new Binary(m.bytes);
      doc.expiresAt = doc.retainUntil;
    } else {
      const stored = await this.media.put(`messages/${_id}`, m.bytes, m.contentType.split(';')[0] || 'application/octet-stream', { sha256 });
      doc.rawMedia = stored;
    }
    for (const k of Object.keys(doc) as (keyof MessageDoc)[]) if (doc[k] === undefined) delete doc[k];
    try {
      await this.inserts.insert(doc);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // Not stored (a resend): its copy in media storage would otherwise keep the bytes past the original's retention.
      if (doc.rawMedia) await this.media.delete(doc.rawMedia.key);
      const existing = await this.collection.findOne({ dedupKey: doc.dedupKey });
      if (!existing) throw err;
      throw new DuplicateMessageError(existing);
    }
    return doc;
  }

  /** A stored message by id (for processing: whoever calls it acts for the message's own tenant). */
  async get(id: string): Promise<MessageDoc | undefined> {
    return (await this.collection.findOne({ _id: id })) ?? undefined;
  }

  /** A stored message of one tenant; another tenant's message is not found. */
  async find(id: string, tenant: string): Promise<MessageDoc | undefined> {
    const doc = await this.get(id); // by _id alone: the one filter FerretDB answers from an index
    return doc?.tenant === tenant ? doc : undefined;
  }

  /** The raw bytes of a stored message. */
  async raw(doc: MessageDoc): Promise<Buffer> {
    if (doc.raw) return Buffer.from(doc.raw.buffer);
    if (doc.rawMedia) {
      const obj = await this.media.get(doc.rawMedia.key);
      if (!obj) throw new Error(`Raw content of message ${doc._id} is missing from media storage`);
      return obj.bytes;
    }
    throw new Error(`Message ${doc._id} has no raw content`);
  }

  /**
   * Replaces the raw content of a message that was not processed (a corrected resend under the same dedup key) and
   * returns the message as updated. `doc`: the message as just read by the caller.
   */
  async replaceRaw(doc: MessageDoc, bytes: Buffer, contentType: string): Promise<MessageDoc> {
    if (doc.status === 'processed') return doc;
    const set: Record<string, unknown> = {
      contentType,
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      updatedAt: new Date(),
    };
    const unset: Record<string, ''> = {};
    if (bytes.length <= this.options.inlineMaxBytes) {
      set.raw = new Binary(bytes);
      set.expiresAt = retainUntilOf(doc);
      unset.rawMedia = '';
    } else {
      set.rawMedia = await this.media.put(`messages/${doc._id}`, bytes, contentType.split(';')[0] || 'application/octet-stream');
      set.retainUntil = retainUntilOf(doc);
      unset.raw = '';
      unset.expiresAt = ''; // the sweep, not the TTL monitor, deletes messages kept in media storage
    }
    await this.collection.updateOne({ _id: doc._id, status: { $ne: 'processed' } }, { $set: set, $unset: unset });
    // The bytes moved inline: the media object is no longer needed.
    if (doc.rawMedia && !set.rawMedia) await this.media.delete(doc.rawMedia.key);
    const out = { ...doc, ...set } as MessageDoc;
    for (const k of Object.keys(unset)) delete (out as unknown as Record<string, unknown>)[k];
    return out;
  }

  /** Adds envelope facts learnt while processing (sender, type …) without touching the outcome. */
  async describe(id: string, facts: Partial<Pick<MessageDoc, 'messageType' | 'format' | 'sender' | 'receiver'>>): Promise<void> {
    const set: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(facts)) if (v !== undefined) set[k] = v;
    if (Object.keys(set).length > 0) await this.collection.updateOne({ _id: id }, { $set: set });
  }

  /**
   * Records the outcome of a processing run (the latest run decides the message's status). Returns the message as
   * updated: computed from `base` (the stored message the run started from) when given, else read back.
   */
  async record(id: string, o: Outcome, base?: MessageDoc): Promise<MessageDoc | undefined> {
    const now = new Date();
    const set: Record<string, unknown> = { status: o.status, updatedAt: now };
    const unset: Record<string, ''> = {};
    const put = (k: string, v: unknown) => {
      if (v === undefined) unset[k] = '';
      else set[k] = v;
    };
    for (const [k, v] of Object.entries(o.facts ?? {})) if (v !== undefined) set[k] = v;
    put('error', o.error);
    put('warnings', o.warnings && o.warnings.length > 0 ? o.warnings : undefined);
    if (o.fhir !== undefined) put('fhir', o.fhir);
    if (o.mapping !== undefined) put('mapping', o.mapping);
    if (o.receipt !== undefined) put('receipt', o.receipt);
    const run: MessageRun = { at: now, trigger: o.trigger, status: o.status };
    if (o.error) run.error = { code: o.error.code, message: o.error.message };
    if (o.mapping) run.mapping = o.mapping;
    if (o.ms !== undefined) run.ms = Math.round(o.ms * 10) / 10;
    const update: Record<string, unknown> = {
      $set: set,
      $inc: { attempts: 1 },
      $push: { runs: { $each: [run], $slice: -MAX_RUNS_KEPT } },
    };
    if (Object.keys(unset).length > 0) update.$unset = unset;
    await this.outcomes.updateOne({ _id: id }, update);
    if (!base) return this.get(id);
    const out = { ...base, ...set, attempts: (base.attempts ?? 0) + 1, runs: [...(base.runs ?? []), run].slice(-MAX_RUNS_KEPT) } as MessageDoc;
    for (const k of Object.keys(unset)) delete (out as unknown as Record<string, unknown>)[k];
    return out;
  }

  filter(q: MessageQuery): Filter<MessageDoc> {
    const f: Filter<MessageDoc> = {};
    if (q.tenant !== undefined) f.tenant = q.tenant;
    if (q.source) f.source = q.source;
    if (q.status) f.status = q.status;
    if (q.externalId) f.externalId = q.externalId;
    if (q.mappingName) f['mapping.name'] = q.mappingName;
    if (q.mappingVersion) f['mapping.version'] = q.mappingVersion;
    if (q.ids) f._id = { $in: q.ids };
    if (q.from || q.to) {
      f.receivedAt = {};
      if (q.from) f.receivedAt.$gte = q.from;
      if (q.to) f.receivedAt.$lt = q.to;
    }
    return f;
  }

  async list(q: MessageQuery, page: { limit: number; offset: number }, withRaw: boolean): Promise<{ messages: MessageDoc[]; total: number }> {
    const f = this.filter(q);
    const projection = withRaw ? {} : { raw: 0 };
    const [messages, total] = await Promise.all([
      this.collection.find(f, { projection }).sort({ receivedAt: -1, _id: 1 }).skip(page.offset).limit(page.limit).toArray(),
      this.collection.countDocuments(f),
    ]);
    return { messages, total };
  }

  /** Ids (with their tenants) matching a query, oldest first (replay order). */
  async idsWithTenant(q: MessageQuery, limit: number): Promise<{ _id: string; tenant: string }[]> {
    return this.collection
      .find(this.filter(q), { projection: { _id: 1, tenant: 1 } })
      .sort({ receivedAt: 1, _id: 1 })
      .limit(limit)
      .toArray() as Promise<{ _id: string; tenant: string }[]>;
  }

  /**
   * Deletes expired messages: those kept in media storage (media object first, then the document), and inline ones
   * (the TTL index does that on MongoDB; FerretDB needs it). Returns how many.
   */
  async sweepExpired(now = new Date()): Promise<number> {
    let deleted = 0;
    for (;;) {
      const batch = await this.collection
        .find({ retainUntil: { $lt: now }, rawMedia: { $exists: true } }, { projection: { _id: 1, rawMedia: 1 } })
        .limit(500)
        .toArray();
      for (const m of batch) {
        await this.media.delete(m.rawMedia!.key);
        deleted += (await this.collection.deleteOne({ _id: m._id })).deletedCount;
      }
      if (batch.length < 500) break;
    }
    const r = await this.collection.deleteMany({ expiresAt: { $lt: now } });
    return deleted + r.deletedCount;
  }

  startSweeper(intervalMs = 3_600_000, onError: (err: unknown) => void = () => {}): void {
    const run = () => {
      if (this.sweeping) return; // the previous sweep is still going
      this.sweeping = this.sweepExpired()
        .then(() => undefined, onError)
        .finally(() => (this.sweeping = undefined));
    };
    run();
    this.sweeper = setInterval(run, intervalMs);
    this.sweeper.unref();
  }

  /** Stops the periodic sweep and waits for a sweep in progress. */
  async stopSweeper(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    await this.sweeping;
  }
}

/** End of retention of a stored message (documents from before `retainUntil` have only `expiresAt`). */
export function retainUntilOf(doc: Pick<MessageDoc, 'retainUntil' | 'expiresAt' | 'receivedAt'>): Date {
  return doc.retainUntil ?? doc.expiresAt ?? doc.receivedAt;
}
