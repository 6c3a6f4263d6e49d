/**
 * The ingest pipeline: the steps every source format goes through, in one place. Each format's service (henvisning,
 * Pridok, HL7 v2) extends it and supplies only what differs (the abstract members below); README.md in this folder
 * says how to add a format.
 *
 *   ingest(message)  1. stores the raw message before anything else (message-store.ts). Its unique dedup key (tenant,
 *                       the sender's message id) makes the insert the claim of the first attempt.
 *                    2. a resend (the dedup key was stored before) is answered from the stored message when that was
 *                       answered for good (isFinal); else it is processed once more, by exactly one caller however
 *                       many resends and replays arrive at once (attempts.ts: a unique insert decides, since FerretDB
 *                       has no atomic read-modify-write).
 *                    3. processes a new message.
 *   process(doc)     ingest, resends, replays (replay.ts) and recovery (recovery.ts), within the shared limiter:
 *                    parse, check and map (prepare) → write to the tenant's FHIR store (applyMapped) → record the
 *                    outcome and its receipt on the stored message, count it (ingest_messages_total), log it.
 *   map(doc)         parse, check and map, writing nothing (preview.ts).
 *
 * Outcomes: `processed` (written; the format's receipt), `rejected` (the sender's error, with the format's receipt;
 * also content the FHIR store refuses with 422), `failed` (our side: mapping or FHIR store; no receipt, so a resend
 * or a replay processes the message again).
 */
import { performance } from 'node:perf_hooks';
import type { MappingRef, MappingSelection } from '../mapping/registry.js';
import type { CurrentMappings } from '../mapping/current.js';
import type { MappingOutput } from '../mapping/output.js';
import { fhirStatus } from '../fhir-store/errors.js';
import { ingestMessages } from '../platform/metrics/registry.js';
import { applyMapped, type AppliedResource, type FhirStore, type ResourceCache, type SourceInfo } from './apply.js';
import { exclusiveAttempt, MessageBusyError } from './attempts.js';
import type { Limiter } from './limiter.js';
import { DuplicateMessageError, internalError, type MessageDoc, type MessageSource, type MessageStore, type Outcome, type Receipt } from './message-store.js';
import type { MappedMessage } from './replay.js';

/** A message to store (MessageStore.insert). */
export type NewMessage = Parameters<MessageStore['insert']>[0];

/** An outcome as a run produces it; process() adds the trigger and the time taken. */
export type RunOutcome = Omit<Outcome, 'trigger'>;

/** What a run is given besides the message. */
export interface RunInputs {
  /** Mapping versions to use instead of the current ones (a replay of a previewed version). */
  selection?: MappingSelection;
}

/** A stored message parsed, checked and mapped: what to write, and how the outcome of writing it reads. */
export interface MappedInput {
  output: MappingOutput;
  src: SourceInfo;
  mapping: MappingRef;
  warnings?: string[];
  /** Envelope facts learnt while processing (format, message type), recorded on the message. */
  facts?: Outcome['facts'];
  /** The receipt once the resources are written (AppRec status 1, ACK AA, HTTP 201). */
  accepted(fhir: AppliedResource[]): Receipt;
  /** The outcome when the FHIR store refuses the content (422): the sender's error, with its receipt. */
  refused(err: Error): RunOutcome;
}

/** A run that ends before anything is written: rejected (with its receipt) or failed. */
export interface NotMapped {
  outcome: RunOutcome;
}

/** What a resend of an unfinished message is processed with. */
export type ResendContent = (store: MessageStore, current: MessageDoc, resent: NewMessage) => Promise<{ doc: MessageDoc; raw: Buffer }>;

/** The bytes stored first: a resend is the same message again (henvisning, HL7 v2). */
export const storedContent: ResendContent = async (store, current) => ({ doc: current, raw: await store.raw(current) });

/** The resent bytes, replacing the stored ones: a resend may correct what was rejected (Pridok). */
export const resentContent: ResendContent = async (store, current, resent) => ({
  doc: await store.replaceRaw(current, resent.bytes, resent.contentType),
  raw: resent.bytes,
});

/** The settings every format shares (each format's options extend these). */
export interface PipelineOptions {
  /** The mapping versions in force (installation-wide, from the database). */
  currentMappings: Pick<CurrentMappings, 'selection'>;
  /** Bounds how many messages are processed at once (shared by the formats). */
  limiter?: Limiter;
  /** Recently read/written FHIR resources (shared by the formats). */
  cache?: ResourceCache;
  /** How long a first ingest counts as running before a resend or recovery may process the message (attempts.ts). */
  leaseMs?: number;
}

/** A message as ingest() leaves it. */
export interface Delivery {
  doc: MessageDoc;
  /** A resend: its dedup key was stored before. */
  duplicate: boolean;
  /** Processed by this call; false when answered from the stored message or from another caller's run. */
  processedHere: boolean;
}

/**
 * The flow of one source format. `Given`: what a run may be given besides the stored message (every field optional;
 * henvisning adds the analysis its ingest made before storing).
 */
export abstract class IngestPipeline<Given extends RunInputs = RunInputs> {
  /** The message source (message store, metrics label). */
  protected abstract readonly source: MessageSource;
  /** What a resend of an unfinished message is processed with: storedContent or resentContent. */
  protected abstract readonly resendContent: ResendContent;

  constructor(
    private readonly store: MessageStore,
    /** The FHIR repository of a tenant. */
    private readonly fhir: (tenant: string) => FhirStore,
    private readonly shared: PipelineOptions,
  ) {}

  /** Parses, checks and maps a stored message (with the mapping versions of mappingSelection). */
  protected abstract prepare(doc: MessageDoc, raw: Buffer, given?: Given): Promise<MappedInput | NotMapped>;

  /** Answered for good: a resend gets the stored answer and is not processed again. */
  protected abstract isFinal(doc: MessageDoc): boolean;

  /** The log line of a recorded outcome (ids and codes, no content). */
  protected abstract logOutcome(doc: MessageDoc, outcome: RunOutcome, trigger: Outcome['trigger'], ms: number): void;

  /** The log line of a FHIR store failure (status and codes, no content). */
  protected abstract logWriteFailure(err: unknown): void;

  /** Time taken by a stage; a format that measures its stages records it. */
  protected timeStage(_stage: 'message_store' | 'fhir_store', _seconds: number): void {}

  /** The mapping versions a run uses: the current ones, and those `override` names instead. */
  protected async mappingSelection(override?: MappingSelection): Promise<MappingSelection> {
    return { ...(await this.shared.currentMappings.selection()), ...override };
  }

  /**
   * Stores a received message and processes it, or answers a resend. `onStored`: called once the message is stored
   * (new or a resend); `given`: passed to the first run of a new message.
   */
  protected async ingest(message: NewMessage, opts: { given?: Given; onStored?: () => void } = {}): Promise<Delivery> {
    const t = performance.now();
    let doc: MessageDoc;
    try {
      doc = await this.store.insert(message);
    } catch (err) {
      if (!(err instanceof DuplicateMessageError)) throw err;
      opts.onStored?.();
      return this.answerResend(err.existing, message);
    }
    this.timeStage('message_store', (performance.now() - t) / 1000);
    opts.onStored?.();
    return { doc: await this.process(doc, message.bytes, 'ingest', opts.given), duplicate: false, processedHere: true };
  }

  /** A resend: the stored message when final; else processed again, once (exclusiveAttempt). */
  private async answerResend(existing: MessageDoc, resent: NewMessage): Promise<Delivery> {
    ingestMessages.inc({ source: this.source, outcome: 'duplicate' });
    if (this.isFinal(existing)) return { doc: existing, duplicate: true, processedHere: false };
    let processedHere = false;
    let doc: MessageDoc;
    try {
      doc = await exclusiveAttempt(
        this.store,
        existing,
        async (current) => {
          if (this.isFinal(current)) return current;
          processedHere = true;
          const next = await this.resendContent(this.store, current, resent);
          return this.process(next.doc, next.raw, 'retry');
        },
        { leaseMs: this.shared.leaseMs },
      );
    } catch (err) {
      if (!(err instanceof MessageBusyError)) throw err;
      doc = (await this.store.get(existing._id)) ?? existing;
    }
    return { doc, duplicate: true, processedHere };
  }

  /**
   * Processes a stored message (ingest, retry, replay or recovery) and records the outcome. `given.selection`: the
   * mapping versions to use instead of the current ones.
   */
  async process(doc: MessageDoc, raw: Buffer, trigger: Outcome['trigger'], given?: Given): Promise<MessageDoc> {
    const started = performance.now();
    const outcome = this.shared.limiter ? await this.shared.limiter.run(() => this.run(doc, raw, given)) : await this.run(doc, raw, given);
    const t = performance.now();
    const saved = await this.store.record(doc._id, { ...outcome, trigger, ms: t - started }, doc);
    this.timeStage('message_store', (performance.now() - t) / 1000);
    ingestMessages.inc({ source: this.source, outcome: outcome.status });
    this.logOutcome(doc, outcome, trigger, t - started);
    return saved ?? doc;
  }

  /** Checks and maps a stored message with the current mappings (or the versions `selection` names), writing nothing. */
  async map(doc: MessageDoc, raw: Buffer, selection?: MappingSelection): Promise<MappedMessage> {
    const p = await this.prepare(doc, raw, { selection } as Given);
    return 'outcome' in p ? { kind: 'not_mapped', outcome: p.outcome } : { kind: 'mapped', output: p.output, src: p.src, mapping: p.mapping };
  }

  /**
   * One run: prepare, then the FHIR writes; the outcome, not yet recorded. (test/ingest/messages.test.ts replaces
   * `run` on a service to simulate an outage of our side.)
   */
  private async run(doc: MessageDoc, raw: Buffer, given: Given | undefined): Promise<RunOutcome> {
    const p = await this.prepare(doc, raw, given);
    if ('outcome' in p) return p.outcome;
    const t = performance.now();
    try {
      const fhir = await applyMapped(this.fhir(doc.tenant), p.output, p.src, this.shared.cache);
      this.timeStage('fhir_store', (performance.now() - t) / 1000);
      return { status: 'processed', fhir, mapping: p.mapping, warnings: p.warnings, receipt: p.accepted(fhir), facts: p.facts };
    } catch (err) {
      if (fhirStatus(err) === 422) return p.refused(err as Error);
      this.logWriteFailure(err);
      return { status: 'failed', error: internalError('fhir_store_failed', err), mapping: p.mapping, warnings: p.warnings };
    }
  }
}
