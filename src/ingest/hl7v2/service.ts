/**
 * HL7 v2 messages (MLLP and POST /api/messages): tenant, message store, analysis in the worker pool, FHIR, ACKs.
 *
 *   1. The header (MSH, first segment only) is read on the event loop. The tenant: over MLLP the one whose receiving
 *      facilities (TENANTS `hl7v2_receiving_facilities`) name MSH-5/MSH-6; over HTTP the token's (a facility the
 *      tenant has not registered is rejected after storing, AR).
 *   2. Stored raw before anything else, dedup key `hl7v2:<tenant>:<MSH-3>^<MSH-4>:<MSH-10>`. A repeated control id
 *      gets the stored ACK (one that failed on our side is processed again, once).
 *   3. Enhanced mode (MSH-15 or MSH-16 given): the commit ACK (CA) as soon as the message is stored, when MSH-15 asks
 *      for it (AL, SU or empty); then the application ACK when MSH-16 asks for it (AL or empty: always; ER: on
 *      error; SU: on success; NE: never). Original mode: one ACK, after processing.
 *   4. The analysis (analyse.ts) in a worker thread, then the FHIR writes (referrals/apply.ts) for the tenant.
 *
 * Messages without a tenant (no readable MSH over MLLP, or a receiving facility nobody registered) cannot be stored
 * for anyone: they are answered AR (CR in enhanced mode) and logged without content.
 */
import { log } from '../../platform/logging/logger.js';
import { hl7DateTime, instantMs } from '../../mapping/functions.js';
import type { MappingRegistry } from '../../mapping/registry.js';
import { ingestMessages } from '../../platform/metrics/registry.js';
import { internalError, type MessageDoc, type MessageStore, type Outcome, type Receipt } from '../message-store.js';
import type { FhirStore } from '../apply.js';
import { IngestPipeline, storedContent, type MappedInput, type NotMapped, type PipelineOptions, type RunInputs, type RunOutcome } from '../pipeline.js';
import type { ResourceIds } from '../../mapping/resource-ids.js';
import type { PoolOptions } from '../henvisning/pool.js';
import { buildAck, EMPTY_ORIGINAL, type AckCode, type AckOriginal, type AckProblem } from './ack.js';
import { CONTROL_ID, HL7V2_SOURCE } from './analyse.js';
import { readHeader, type Er7Header } from '../../lib/er7.js';
import { Hl7AnalysisPool } from './pool.js';

export const HL7V2_CONTENT_TYPE = 'x-application/hl7-v2+er7';

/** Which tenant receives for an MSH-5/MSH-6 pair, and which pairs a tenant receives for (src/platform/tenancy/directory.ts). */
interface Hl7TenantPort {
  hl7v2TenantOf(application: string, facility: string): string | undefined;
  hl7v2Receivers(tenant: string): string[];
}

interface Hl7v2Options extends PipelineOptions {
  tenants: Hl7TenantPort;
  ids: ResourceIds;
  pool: PoolOptions;
  /** How far MSH-7 may be ahead of our clock, in ms. */
  futureSkewMs: number;
}

export type Hl7Transport = { kind: 'mllp' } | { kind: 'http'; tenant: string };

export interface Hl7Answer {
  /** The ACKs to send after the commit ACK, in order (one, or none when the sender asked for none). */
  acks: string[];
  /** The application ACK (or the refusal), also when the sender asked for none: what a transport with one answer sends. */
  ack: string;
  /** MSH-18 of the original: the ACKs are written in the same character set. */
  characterSet: string;
  messageId?: string;
  duplicate: boolean;
}

/** Receives the commit ACK (enhanced mode) as soon as the message is stored. */
type CommitListener = (ack: string) => void;

function original(h: Er7Header | undefined): AckOriginal {
  return h ?? EMPTY_ORIGINAL;
}

function isEnhanced(h: Er7Header | undefined): boolean {
  return !!h && (h.acceptAckType !== '' || h.applicationAckType !== '');
}

/** Whether an ACK type (MSH-15/16: AL, NE, ER, SU, empty = AL) asks for an acknowledgement of this outcome. */
function wants(type: string, success: boolean): boolean {
  return type === '' || type === 'AL' || (type === 'ER' && !success) || (type === 'SU' && success);
}

function ackReceipt(h: Er7Header | undefined, code: AckCode, problems: AckProblem[] = []): Receipt {
  const ack = buildAck(original(h), code, problems);
  return { kind: 'ack', status: code, contentType: HL7V2_CONTENT_TYPE, body: ack.text, id: ack.id, at: new Date() };
}

/** The bytes of an ACK in the character set of the original (MSH-18: the 8859 sets as Latin-1, else UTF-8). */
export function ackBytes(ack: string, characterSet: string): Buffer {
  return Buffer.from(ack, /^8859\//.test(characterSet) ? 'latin1' : 'utf8');
}

export class Hl7v2Service extends IngestPipeline {
  protected readonly source = HL7V2_SOURCE;
  /** A resend is the same message: processed again from the stored bytes. */
  protected readonly resendContent = storedContent;
  private analysisPool: Hl7AnalysisPool | undefined;

  constructor(
    store: MessageStore,
    fhir: (tenant: string) => FhirStore,
    private readonly mappings: MappingRegistry,
    private readonly options: Hl7v2Options,
  ) {
    super(store, fhir, options);
  }

  private get pool(): Hl7AnalysisPool {
    this.analysisPool ??= new Hl7AnalysisPool({ mappingsDir: this.mappings.dir, resourceIdKey: this.options.ids.key.toString('base64') }, this.options.pool);
    return this.analysisPool;
  }

  /** Starts the worker threads now (the engine does when MLLP is enabled). */
  start(): void {
    void this.pool;
  }

  async close(): Promise<void> {
    await this.analysisPool?.close();
    this.analysisPool = undefined;
  }

  /** One message from MLLP or HTTP; `onCommit` gets the commit ACK in enhanced mode as soon as the message is stored. */
  async receive(bytes: Buffer, transport: Hl7Transport, onCommit?: CommitListener): Promise<Hl7Answer> {
    const h = readHeader(bytes);
    const characterSet = h?.characterSet ?? '';
    const enhanced = isEnhanced(h);
    const tenant = transport.kind === 'http' ? transport.tenant : h ? this.options.tenants.hl7v2TenantOf(h.receivingApplication, h.receivingFacility) : undefined;
    if (!tenant) {
      const problem: AckProblem = h
        ? { code: '103', text: `Receiving facility "${h.receivingApplication}^${h.receivingFacility}" (MSH-5/MSH-6) is not served here`, segment: 'MSH', field: 6 }
        : { code: '100', text: 'The message does not start with a readable MSH segment', segment: 'MSH' };
      ingestMessages.inc({ source: HL7V2_SOURCE, outcome: 'rejected' });
      log().warn({ code: problem.code, transport: transport.kind }, 'hl7v2 message refused: no tenant');
      const ack = buildAck(original(h), enhanced ? 'CR' : 'AR', [problem]).text;
      return { acks: !enhanced || wants(h!.acceptAckType, false) ? [ack] : [], ack, characterSet, duplicate: false };
    }
    const controlId = h && CONTROL_ID.test(h.controlId) ? h.controlId : undefined;
    const d = await this.ingest(
      {
        tenant,
        source: HL7V2_SOURCE,
        contentType: HL7V2_CONTENT_TYPE,
        bytes,
        externalId: controlId,
        externalIdIssuer: h ? `${h.sendingApplication}^${h.sendingFacility}` : '-',
        messageType: h && h.messageCode ? `${h.messageCode}^${h.triggerEvent}` : undefined,
        sender: h ? { ids: [{ type: 'hl7v2-application', value: h.sendingApplication }, { type: 'hl7v2-facility', value: h.sendingFacility }].filter((i) => i.value) } : undefined,
        receiver: h ? { ids: [{ type: 'hl7v2-application', value: h.receivingApplication }, { type: 'hl7v2-facility', value: h.receivingFacility }].filter((i) => i.value) } : undefined,
      },
      {
        // Enhanced mode: the commit ACK once the message is stored (a resend's too), before it is processed.
        onStored: () => {
          if (enhanced && wants(h!.acceptAckType, true)) onCommit?.(buildAck(original(h), 'CA').text);
        },
      },
    );
    return this.answer(d.doc, h, characterSet, d.duplicate);
  }

  /** The application ACK of a processed message: the stored one, or AR 207 when our side failed (resend or replay). */
  private answer(doc: MessageDoc, h: Er7Header | undefined, characterSet: string, duplicate: boolean): Hl7Answer {
    const ack = this.isFinal(doc)
      ? doc.receipt!.body
      : buildAck(original(h), 'AR', [{ code: '207', text: 'The message was stored but could not be processed; it is processed again when resent or replayed' }]).text;
    const success = this.isFinal(doc) && doc.receipt!.status === 'AA';
    const send = !isEnhanced(h) || wants(h!.applicationAckType, success);
    return { acks: send ? [ack] : [], ack, characterSet, messageId: doc._id, duplicate };
  }

  /** Processed or rejected, with the ACK that answered it: a resend gets that ACK again. */
  protected isFinal(doc: MessageDoc): boolean {
    return !!doc.receipt && doc.receipt.kind === 'ack' && (doc.status === 'processed' || doc.status === 'rejected');
  }

  protected logOutcome(doc: MessageDoc, outcome: RunOutcome, trigger: Outcome['trigger']): void {
    log().info({ messageId: doc._id, status: outcome.status, code: outcome.error?.code, trigger }, 'hl7v2 message processed');
  }

  protected logWriteFailure(err: unknown): void {
    log().error({ status: (err as { status?: number }).status }, 'hl7v2 processing failed');
  }

  /** The analysis in a worker thread (header, receivers, parse, person numbers, mapping, FHIR validation), then MSH-7. */
  protected async prepare(doc: MessageDoc, raw: Buffer, given?: RunInputs): Promise<MappedInput | NotMapped> {
    const h = readHeader(raw);
    const a = await this.pool.analyse(raw, {
      receivers: this.options.tenants.hl7v2Receivers(doc.tenant),
      resourceIdKey: this.options.ids.forTenant(doc.tenant).key.toString('base64'),
    }, await this.mappingSelection(given?.selection));
    const facts = { messageType: a.facts.messageType, format: a.facts.format };
    if (a.kind === 'rejected') return { outcome: reject(h, a.code, a.problems, facts) };
    if (a.kind === 'failed') {
      log().error({ code: a.code }, 'hl7v2 processing failed');
      return { outcome: { status: 'failed', error: internalError(a.code, new Error(a.message)), mapping: a.mapping, facts } };
    }
    // A message dated in the future would win every newest-wins decision (referrals/apply.ts) until that date.
    if (instantMs(a.sent) > Date.now() + this.options.futureSkewMs) {
      const problem = { code: '102', text: `MSH-7 is in the future (more than ${Math.round(this.options.futureSkewMs / 1000)} s ahead of the receiver's clock)`, segment: 'MSH', field: 7 };
      return { outcome: reject(h, 'AE', [problem], facts) };
    }
    return {
      output: a.output,
      src: { messageId: h!.controlId || doc._id, sent: hl7DateTime(h!.time), received: doc.receivedAt, storeId: doc._id },
      mapping: a.mapping,
      warnings: a.warnings,
      facts: a.facts,
      accepted: () => ackReceipt(h, 'AA'),
      refused: (err) => ({ ...reject(h, 'AE', [{ code: '102', text: `The content is not valid FHIR: ${err.message.slice(0, 400)}` }], a.facts), mapping: a.mapping }),
    };
  }
}

function reject(h: Er7Header | undefined, code: 'AR' | 'AE', problems: AckProblem[], facts: Outcome['facts']): RunOutcome {
  return {
    status: 'rejected',
    error: { code: `${code}-${problems[0].code}`, message: problems[0].text, details: problems.length > 1 ? problems.map((p) => p.text) : undefined },
    receipt: ackReceipt(h, code, problems),
    facts,
  };
}
