/**
 * Henvisning ingestion: MsgHead v1.2 + Henvisning v2.0 (and Henvisning v1.1/v1.0 `Message` documents) → message
 * store → FHIR, answered with an AppRec v1.1.
 *
 *   receive(bytes, tenant)  transport checks (not XML → 400), analysis in a worker thread for the poster's tenant
 *                    (envelope facts and everything below), store in that tenant (dedup on tenant + sender HER-id +
 *                    MsgId: a repeated MsgId from the same sender gets the stored AppRec and nothing is processed
 *                    again), then process. The receiver's HER-id must be registered by that tenant (TENANTS), else
 *                    AppRec E21: a token can only post for its own legal entity.
 *   process(doc)     analysis in a worker thread (analyse.ts: decode → refuse DTDs → input shape limits → parse →
 *                    dispatch on the content's namespace URI → XSD (libxml2) → checks → mapping (JSONata) → FHIR
 *                    validation), unless receive() just made it; then GenDate no later than now + the allowed clock
 *                    skew, FHIR writes (applyMapped) and the AppRec; the outcome is recorded on the message. Used for
 *                    ingest, sender retries, operator replays and recovery alike.
 *
 * Outcomes: `processed` (AppRec status 1), `rejected` (AppRec status 2 with 8221 codes: T01 not well-formed or not
 * decodable, T99 DTD/entity declarations, an input shape limit, the time budget or the memory limit exceeded, T10
 * unsupported format/namespace, T02 XSD, E10/E21/E30/E31 checks, X99 content FHIR refuses or a GenDate in the
 * future), `failed` (our side: mapping or FHIR store error; HTTP 500, no AppRec, so the sender's transport retries
 * and an operator can replay).
 */
import { packageVersion } from '../paths.js';
import { Histogram } from 'prom-client';
import { log } from '../logging/logger.js';
import type { MappingRegistry, MappingSelection } from '../mapping/registry.js';
import type { CurrentMappings } from '../mapping/current.js';
import { instantMs } from '../mapping/functions.js';
import { ingestMessages, metricsRegistry } from '../metrics/registry.js';
import { DuplicateMessageError, internalError, type MessageDoc, type MessageStore, type Outcome, type Receipt } from '../messages/store.js';
import { applyMapped, type FhirStore, type ResourceCache, type SourceInfo } from '../referrals/apply.js';
import type { MappedMessage } from '../messages/replay.js';
import { exclusiveAttempt, MessageBusyError } from '../messages/attempts.js';
import type { Limiter } from '../messages/limiter.js';
import { fhirStatus } from '../fhir/errors.js';
import { looksLikeXml, type XmlLimits } from '../xml/secure-xml.js';
import { buildAppRec, type AppRecError } from './apprec.js';
import type { Envelope } from './envelope.js';
import { type Analysis } from './analyse.js';
import { AnalysisPool, type PoolOptions } from './pool.js';
import type { TenantDirectory } from '../tenancy/directory.js';
import type { ResourceIds } from '../referrals/resource-ids.js';

export { dispatch, SCHEMA_DIR } from './analyse.js';

export const henvisningStageSeconds = new Histogram({
  name: 'henvisning_ingest_stage_seconds',
  help: 'Time per henvisning ingest stage (analyse: worker thread round trip with decode, parse, xsd, checks, map and FHIR validation; fhir_store; message_store)',
  labelNames: ['stage'] as const,
  buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  registers: [metricsRegistry],
});

export interface HenvisningOptions {
  maxBytes: number;
  /** The tenants and the receiver HER-ids each has registered (E21 for a receiver the message's tenant lacks). */
  tenants: TenantDirectory;
  /** Deterministic FHIR ids (derived per tenant). */
  ids: ResourceIds;
  /** Bounds how many messages are processed at once (shared with Pridok). */
  limiter?: Limiter;
  /** Recently read/written FHIR resources (shared with Pridok). */
  cache?: ResourceCache;
  /** Input shape limits of one message. */
  limits: XmlLimits;
  /** The worker pool that analyses messages. */
  pool: PoolOptions;
  /** The mapping versions in force (installation-wide, from the database). */
  currentMappings: Pick<CurrentMappings, 'selection'>;
  /** How far in the future a GenDate may be (clock skew between sender and us), in ms. */
  futureSkewMs: number;
  /** How long a first ingest counts as running before a resend or recovery may process the message (attempts.ts). */
  leaseMs?: number;
}

export type ReceiveResult =
  | { kind: 'apprec'; xml: string; status: '1' | '2'; messageId: string; duplicate: boolean }
  | { kind: 'error'; httpStatus: number; type: string; message: string; messageId?: string };

/** The sender's HER-id (the issuer of its MsgIds), when the envelope names one. */
function senderHerId(env: Envelope): string | undefined {
  const id = env.senderSummary?.ids?.find((i) => i.type === 'HER')?.value;
  return id && /^\d{1,12}$/.test(id) ? id : undefined;
}

/** Processed or rejected, with the AppRec that answered it: a resend gets that AppRec again. */
function isFinal(doc: MessageDoc): boolean {
  return !!doc.receipt && (doc.status === 'processed' || doc.status === 'rejected');
}

export class HenvisningService {
  private readonly version = packageVersion();
  private analysisPool: AnalysisPool | undefined;

  constructor(
    private readonly store: MessageStore,
    private readonly fhir: (tenant: string) => FhirStore,
    private readonly mappings: MappingRegistry,
    private readonly options: HenvisningOptions,
  ) {}

  /** The worker pool, started on first use (a CLI command that never ingests starts no threads). */
  private get pool(): AnalysisPool {
    this.analysisPool ??= new AnalysisPool(
      {
        maxBytes: this.options.maxBytes,
        limits: this.options.limits,
        mappingsDir: this.mappings.dir,
        resourceIdKey: this.options.ids.key.toString('base64'),
      },
      this.options.pool,
    );
    return this.analysisPool;
  }

  /** Starts the worker threads now (the engine does at start, so the first message does not wait for them). */
  start(): void {
    void this.pool;
  }

  /** Stops the worker threads (engine shutdown). */
  async close(): Promise<void> {
    await this.analysisPool?.close();
    this.analysisPool = undefined;
  }

  /** Analyses a message for `tenant` in the worker pool (CPU-bound work off the event loop). */
  private async analyse(bytes: Buffer, tenant: string, selection?: MappingSelection): Promise<Analysis> {
    const t = performance.now();
    const mappings = { ...(await this.options.currentMappings.selection()), ...selection };
    const a = await this.pool.analyse(bytes, {
      receiverHerIds: [...this.options.tenants.receiverHerIds(tenant)],
      resourceIdKey: this.options.ids.forTenant(tenant).key.toString('base64'),
    }, mappings);
    henvisningStageSeconds.observe({ stage: 'analyse' }, (performance.now() - t) / 1000);
    return a;
  }

  /** Entry point of POST /api/messages (XML body), posted for `tenant` (the token's legal entity). */
  async receive(bytes: Buffer, contentType: string, tenant: string): Promise<ReceiveResult> {
    // Transport-level refusals: no AppRec can be made of these.
    if (bytes.length > this.options.maxBytes) {
      return { kind: 'error', httpStatus: 413, type: 'request_entity_too_large', message: `Request body exceeds the limit of ${this.options.maxBytes} bytes` };
    }
    const head = bytes.subarray(0, 512).toString('latin1').replace(/^\uFEFF|^\u00EF\u00BB\u00BF|^\u00FF\u00FE|^\u00FE\u00FF/, '');
    if (bytes.length === 0 || !looksLikeXml(head.replace(/\u0000/g, ''))) {
      return { kind: 'error', httpStatus: 400, type: 'request_malformed', message: 'Request body is not an XML document' };
    }
    // Everything CPU-bound happens in a worker thread; the envelope facts it read go to the message store.
    const analysis = await this.analyse(bytes, tenant);
    const tParsed = performance.now();
    const env = analysis.env;
    const format = analysis.format;
    const externalId = env.msgId && env.msgId.length <= 200 ? env.msgId : undefined;
    let doc: MessageDoc;
    try {
      doc = await this.store.insert({
        tenant,
        externalIdIssuer: senderHerId(env) ?? '-',
        source: 'henvisning',
        contentType,
        bytes,
        externalId,
        messageType: env.type.V,
        format,
        sender: env.senderSummary,
        receiver: env.receiverSummary,
        sha256: analysis.sha256,
      });
    } catch (err) {
      if (!(err instanceof DuplicateMessageError)) throw err;
      return this.answerDuplicate(err.existing);
    }
    henvisningStageSeconds.observe({ stage: 'message_store' }, (performance.now() - tParsed) / 1000);
    const done = await this.process(doc, bytes, 'ingest', { analysis });
    return this.answer(done, false);
  }

  /**
   * A repeated MsgId: the stored AppRec; when the earlier delivery failed (or never finished), it is processed again,
   * once, however many resends and replays arrive at the same time (exclusiveAttempt).
   */
  private async answerDuplicate(existing: MessageDoc): Promise<ReceiveResult> {
    ingestMessages.inc({ source: 'henvisning', outcome: 'duplicate' });
    if (isFinal(existing)) return this.answer(existing, true);
    let done: MessageDoc;
    try {
      done = await exclusiveAttempt(
        this.store,
        existing,
        async (current) => (isFinal(current) ? current : this.process(current, await this.store.raw(current), 'retry')),
        { leaseMs: this.options.leaseMs },
      );
    } catch (err) {
      if (!(err instanceof MessageBusyError)) throw err;
      done = (await this.store.get(existing._id)) ?? existing;
    }
    return this.answer(done, true);
  }

  private answer(doc: MessageDoc, duplicate: boolean): ReceiveResult {
    if (doc.receipt?.kind === 'apprec' && (doc.status === 'processed' || doc.status === 'rejected')) {
      return { kind: 'apprec', xml: doc.receipt.body, status: doc.receipt.status as '1' | '2', messageId: doc._id, duplicate };
    }
    return {
      kind: 'error',
      httpStatus: 500,
      type: 'processing_failed',
      message: 'The message was stored but could not be processed; it will be processed again when resent or replayed',
      messageId: doc._id,
    };
  }

  /**
   * Processes a stored message (ingest, retry, replay or recovery) and records the outcome. `analysis`: the worker's
   * analysis of exactly these bytes when the caller has it already (ingest analyses once, before storing).
   */
  /** `given.analysis`: done already (ingest); `given.selection`: the mapping versions to use instead of the current ones. */
  async process(doc: MessageDoc, raw: Buffer, trigger: Outcome['trigger'], given: { analysis?: Analysis; selection?: MappingSelection } = {}): Promise<MessageDoc> {
    const started = performance.now();
    const outcome = this.options.limiter ? await this.options.limiter.run(() => this.run(doc, raw, given)) : await this.run(doc, raw, given);
    const t = performance.now();
    const saved = await this.store.record(doc._id, { ...outcome, trigger, ms: t - started }, doc);
    henvisningStageSeconds.observe({ stage: 'message_store' }, (performance.now() - t) / 1000);
    ingestMessages.inc({ source: 'henvisning', outcome: outcome.status });
    const codes = outcome.error ? [outcome.error.code] : [];
    log().info({ messageId: doc._id, status: outcome.status, codes, trigger, ms: Math.round(t - started) }, 'henvisning processed');
    return saved ?? doc;
  }

  /** Checks and maps a stored message with the current mapping (or the versions `selection` names), writing nothing. */
  async map(doc: MessageDoc, raw: Buffer, selection?: MappingSelection): Promise<MappedMessage> {
    const p = await this.prepare(doc, raw, undefined, selection);
    return 'outcome' in p ? { kind: 'not_mapped', outcome: p.outcome } : { kind: 'mapped', output: p.a.output, src: p.src, mapping: p.a.mapping };
  }

  /** Everything before the FHIR writes: analysis (checks, mapping) and the GenDate check. */
  private async prepare(
    doc: MessageDoc,
    raw: Buffer,
    given?: Analysis,
    selection?: MappingSelection,
  ): Promise<{ outcome: Omit<Outcome, 'trigger'> } | { a: Extract<Analysis, { kind: 'mapped' }>; env: Envelope; src: SourceInfo }> {
    const a = given ?? (await this.analyse(raw, doc.tenant, selection));
    const env: Envelope = a.env.msgId === undefined ? { ...a.env, msgId: doc.externalId } : a.env;
    if (a.kind === 'rejected') return { outcome: this.reject(env, a.errors, a.message, a.details, a.warnings, a.facts) };
    if (a.kind === 'failed') {
      log().error({ code: a.code }, 'henvisning processing failed');
      return { outcome: { status: 'failed', error: internalError(a.code, new Error(a.message)), mapping: a.mapping, warnings: a.warnings, facts: a.facts } };
    }

    // A message dated in the future would win every newest-wins decision (referrals/apply.ts) until that date.
    const sent = instantMs(env.genDate);
    const latest = Date.now() + this.options.futureSkewMs;
    if (sent > latest) {
      const message = `GenDate ${env.genDate} is in the future (more than ${Math.round(this.options.futureSkewMs / 1000)} s ahead of the receiver's clock)`;
      return { outcome: this.reject(env, [{ code: 'X99', detail: message }], message, undefined, a.warnings, a.facts) };
    }
    return { a, env, src: { messageId: env.msgId ?? doc._id, sent: env.genDate, received: doc.receivedAt, storeId: doc._id } };
  }

  private reject(env: Envelope, errors: AppRecError[], message: string, details?: unknown, warnings?: string[], facts?: Outcome['facts']): Omit<Outcome, 'trigger'> {
    return { status: 'rejected', error: { code: errors[0].code, message, details }, receipt: this.appRec(env, errors), warnings, facts };
  }

  private async run(doc: MessageDoc, raw: Buffer, given: { analysis?: Analysis; selection?: MappingSelection }): Promise<Omit<Outcome, 'trigger'>> {
    const p = await this.prepare(doc, raw, given.analysis, given.selection);
    if ('outcome' in p) return p.outcome;
    const { a, env, src } = p;
    const t = performance.now();
    try {
      const fhir = await applyMapped(this.fhir(doc.tenant), a.output, src, this.options.cache);
      henvisningStageSeconds.observe({ stage: 'fhir_store' }, (performance.now() - t) / 1000);
      return { status: 'processed', fhir, mapping: a.mapping, warnings: a.warnings, receipt: this.appRec(env, []), facts: a.facts };
    } catch (err) {
      // The FHIR validator refusing what the message maps to is the sender's error (the worker validated the mapped
      // resources already; this catches what only a merge with the stored resource produced).
      if (fhirStatus(err) === 422) {
        const message = `The content is not valid FHIR: ${(err as Error).message.slice(0, 400)}`;
        return this.reject(env, [{ code: 'X99', detail: message }], message, (err as { outcome?: unknown }).outcome, a.warnings, a.facts);
      }
      return this.failed('fhir_store_failed', err, a.mapping, a.warnings);
    }
  }

  private failed(code: string, err: unknown, mapping: Outcome['mapping'], warnings: string[]): Omit<Outcome, 'trigger'> {
    log().error({ code, status: (err as { status?: number }).status, fhirCode: (err as { code?: unknown }).code }, 'henvisning processing failed');
    return { status: 'failed', error: internalError(code, err), mapping, warnings };
  }

  private appRec(env: Envelope, errors: AppRecError[]): Receipt {
    const r = buildAppRec({
      errors,
      sender: env.receiver,
      receiver: env.sender,
      original: { msgType: env.type, issueDate: env.genDate ?? '', id: env.msgId ?? '' },
      softwareName: 'hl7-engine',
      softwareVersion: this.version,
      now: new Date(),
    });
    return { kind: 'apprec', status: r.status, contentType: 'application/xml; charset=utf-8', body: r.xml, id: r.id, at: new Date() };
  }
}
