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
import { packageVersion } from '../../platform/paths.js';
import { Histogram } from 'prom-client';
import { log } from '../../platform/logging/logger.js';
import type { MappingRegistry, MappingSelection } from '../../mapping/registry.js';
import { instantMs } from '../../mapping/functions.js';
import { metricsRegistry } from '../../platform/metrics/registry.js';
import { internalError, type MessageDoc, type MessageStore, type Outcome, type Receipt } from '../message-store.js';
import type { FhirStore } from '../apply.js';
import { IngestPipeline, storedContent, type MappedInput, type NotMapped, type PipelineOptions, type RunInputs, type RunOutcome } from '../pipeline.js';
import { looksLikeXml, type XmlLimits } from '../../lib/xml/secure-xml.js';
import { buildAppRec, type AppRecError } from './apprec.js';
import type { Envelope } from './envelope.js';
import { type Analysis } from './analyse.js';
import { AnalysisPool, type PoolOptions } from './pool.js';
import type { TenantDirectory } from '../../platform/tenancy/directory.js';
import type { ResourceIds } from '../../mapping/resource-ids.js';

export { dispatch, SCHEMA_DIR } from './analyse.js';

const henvisningStageSeconds = new Histogram({
  name: 'henvisning_ingest_stage_seconds',
  help: 'Time per henvisning ingest stage (analyse: worker thread round trip with decode, parse, xsd, checks, map and FHIR validation; fhir_store; message_store)',
  labelNames: ['stage'] as const,
  buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  registers: [metricsRegistry],
});

interface HenvisningOptions extends PipelineOptions {
  maxBytes: number;
  /** The tenants and the receiver HER-ids each has registered (E21 for a receiver the message's tenant lacks). */
  tenants: TenantDirectory;
  /** Deterministic FHIR ids (derived per tenant). */
  ids: ResourceIds;
  /** Input shape limits of one message. */
  limits: XmlLimits;
  /** The worker pool that analyses messages. */
  pool: PoolOptions;
  /** How far in the future a GenDate may be (clock skew between sender and us), in ms. */
  futureSkewMs: number;
}

type ReceiveResult =
  | { kind: 'apprec'; xml: string; status: '1' | '2'; messageId: string; duplicate: boolean }
  | { kind: 'error'; httpStatus: number; type: string; message: string; messageId?: string };

/** The sender's HER-id (the issuer of its MsgIds), when the envelope names one. */
function senderHerId(env: Envelope): string | undefined {
  const id = env.senderSummary?.ids?.find((i) => i.type === 'HER')?.value;
  return id && /^\d{1,12}$/.test(id) ? id : undefined;
}

/** What a henvisning run may be given: the worker's analysis of exactly these bytes (ingest analyses once, before storing). */
interface HenvisningRun extends RunInputs {
  analysis?: Analysis;
}

export class HenvisningService extends IngestPipeline<HenvisningRun> {
  protected readonly source = 'henvisning';
  /** A resend is the same message: processed again from the stored bytes. */
  protected readonly resendContent = storedContent;
  private readonly version = packageVersion();
  private analysisPool: AnalysisPool | undefined;

  constructor(
    store: MessageStore,
    fhir: (tenant: string) => FhirStore,
    private readonly mappings: MappingRegistry,
    private readonly options: HenvisningOptions,
  ) {
    super(store, fhir, options);
  }

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
    const mappings = await this.mappingSelection(selection);
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
    const env = analysis.env;
    const d = await this.ingest(
      {
        tenant,
        externalIdIssuer: senderHerId(env) ?? '-',
        source: 'henvisning',
        contentType,
        bytes,
        externalId: env.msgId && env.msgId.length <= 200 ? env.msgId : undefined,
        messageType: env.type.V,
        format: analysis.format,
        sender: env.senderSummary,
        receiver: env.receiverSummary,
        sha256: analysis.sha256,
      },
      { given: { analysis } },
    );
    // A repeated MsgId gets the stored AppRec (processed again first, once, when the earlier delivery did not finish).
    return this.answer(d.doc, d.duplicate);
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

  /** Processed or rejected, with the AppRec that answered it: a resend gets that AppRec again. */
  protected isFinal(doc: MessageDoc): boolean {
    return !!doc.receipt && (doc.status === 'processed' || doc.status === 'rejected');
  }

  protected logOutcome(doc: MessageDoc, outcome: RunOutcome, trigger: Outcome['trigger'], ms: number): void {
    const codes = outcome.error ? [outcome.error.code] : [];
    log().info({ messageId: doc._id, status: outcome.status, codes, trigger, ms: Math.round(ms) }, 'henvisning processed');
  }

  protected logWriteFailure(err: unknown): void {
    log().error({ code: 'fhir_store_failed', status: (err as { status?: number }).status, fhirCode: (err as { code?: unknown }).code }, 'henvisning processing failed');
  }

  protected override timeStage(stage: 'message_store' | 'fhir_store', seconds: number): void {
    henvisningStageSeconds.observe({ stage }, seconds);
  }

  /** The analysis (checks, mapping, FHIR validation) unless given, then the GenDate check. */
  protected async prepare(doc: MessageDoc, raw: Buffer, given?: HenvisningRun): Promise<MappedInput | NotMapped> {
    const a = given?.analysis ?? (await this.analyse(raw, doc.tenant, given?.selection));
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
    return {
      output: a.output,
      src: { messageId: env.msgId ?? doc._id, sent: env.genDate, received: doc.receivedAt, storeId: doc._id },
      mapping: a.mapping,
      warnings: a.warnings,
      facts: a.facts,
      accepted: () => this.appRec(env, []),
      // The FHIR validator refusing what the message maps to is the sender's error (the worker validated the mapped
      // resources already; this catches what only a merge with the stored resource produced).
      refused: (err) => {
        const message = `The content is not valid FHIR: ${err.message.slice(0, 400)}`;
        return this.reject(env, [{ code: 'X99', detail: message }], message, (err as { outcome?: unknown }).outcome, a.warnings, a.facts);
      },
    };
  }

  private reject(env: Envelope, errors: AppRecError[], message: string, details?: unknown, warnings?: string[], facts?: Outcome['facts']): RunOutcome {
    return { status: 'rejected', error: { code: errors[0].code, message, details }, receipt: this.appRec(env, errors), warnings, facts };
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
