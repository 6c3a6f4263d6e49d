/**
 * Henvisning ingestion: MsgHead v1.2 + Henvisning v2.0 (and Henvisning v1.1/v1.0 `Message` documents) → message
 * store → FHIR, answered with an AppRec v1.1.
 *
 *   receive(bytes, tenant)  transport checks (not XML → 400), envelope facts, store in the poster's tenant (dedup on
 *                    tenant + sender HER-id + MsgId: a repeated MsgId from the same sender gets the stored AppRec and
 *                    nothing is processed again), then process. The receiver's HER-id must be registered by that
 *                    tenant (TENANTS), else AppRec E21: a token can only post for its own legal entity.
 *   process(doc)     decode → refuse DTDs → parse → dispatch on the content's namespace URI → XSD (libxml2) → checks →
 *                    mapping (JSONata, mappings/henvisning-v2.0) → FHIR (applyMapped) → AppRec; the outcome is recorded
 *                    on the message. Used for ingest, sender retries and operator replays alike.
 *
 * Outcomes: `processed` (AppRec status 1), `rejected` (AppRec status 2 with 8221 codes: T01 not well-formed or not
 * decodable, T99 DTD/entity declarations, T10 unsupported format/namespace, T02 XSD, E10/E21/E30/E31 checks),
 * `failed` (our side: mapping or FHIR store error; HTTP 500, no AppRec, so the sender's transport retries and an
 * operator can replay).
 */
import path from 'node:path';
import { packageVersion, projectPath } from '../paths.js';
import { Histogram } from 'prom-client';
import { log } from '../logging/logger.js';
import type { MappingRegistry, MappingRef } from '../mapping/registry.js';
import { ingestMessages, metricsRegistry } from '../metrics/registry.js';
import { DuplicateMessageError, internalError, type MessageDoc, type MessageStore, type Outcome, type Receipt } from '../messages/store.js';
import { applyMapped, prune, type FhirStore, type MappingOutput, type ResourceCache } from '../referrals/apply.js';
import { exclusiveAttempt, MessageBusyError } from '../messages/attempts.js';
import type { Limiter } from '../messages/limiter.js';
import { decodeXml, looksLikeXml, parseXmlTree, rejectDtd, XmlInputError, type XmlElement } from '../xml/secure-xml.js';
import { checkWellFormed, SchemaSet } from '../xml/xsd.js';
import type { TenantDirectory } from '../tenancy/directory.js';
import type { ResourceIds } from '../referrals/resource-ids.js';
import { buildAppRec, type AppRecError } from './apprec.js';
import {
  checkMessage,
  envelopeFromText,
  envelopeOf,
  envelopeOfV1,
  HENVISNING_V10_NS,
  HENVISNING_V11_NS,
  HENVISNING_V2_NS,
  mainContent,
  MSGHEAD_NS,
  type Envelope,
} from './envelope.js';

export const SCHEMA_DIR = projectPath('schemas', 'ehelse');

export const henvisningStageSeconds = new Histogram({
  name: 'henvisning_ingest_stage_seconds',
  help: 'Time per henvisning ingest stage (decode+parse, xsd, checks, map, fhir store, message store)',
  labelNames: ['stage'] as const,
  buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  registers: [metricsRegistry],
});

export interface HenvisningOptions {
  maxBytes: number;
  /** The tenants and the receiver HER-ids each has registered (E21 for a receiver the message's tenant lacks). */
  tenants: TenantDirectory;
  /** Deterministic FHIR ids (per tenant). */
  ids: ResourceIds;
  /** Bounds how many messages are processed at once (shared with Pridok). */
  limiter?: Limiter;
  /** Recently read/written FHIR resources (shared with Pridok). */
  cache?: ResourceCache;
}

export type ReceiveResult =
  | { kind: 'apprec'; xml: string; status: '1' | '2'; messageId: string; duplicate: boolean }
  | { kind: 'error'; httpStatus: number; type: string; message: string; messageId?: string };

/** What the format dispatch knows: namespace URI of the content → schema set. */
interface FormatHandler {
  schema: SchemaSet;
}

/**
 * Which format a parsed document is, by namespace URIs: MsgHead v1.2 whose first XML Document holds Henvisning v2.0,
 * or a Henvisning v1.1 / v1.0 `Message` (not wrapped in MsgHead). `format` is the namespace URI the schema set and the
 * mapping are chosen by; `unsupported` says what was found otherwise.
 */
export function dispatch(tree: { name: string; ns: string | undefined; node: XmlElement | string }): { format?: string; env?: Envelope; unsupported?: string } {
  if (typeof tree.node !== 'object') return { unsupported: `root element ${tree.name} without content` };
  if (tree.name === 'MsgHead' && tree.ns === MSGHEAD_NS) {
    const env = envelopeOf(tree.node);
    const content = mainContent(tree.node);
    if (content.name === 'Henvisning' && content.ns === HENVISNING_V2_NS) return { format: HENVISNING_V2_NS, env };
    return { env, unsupported: `MsgHead content {${content.ns ?? ''}}${content.name ?? '(none)'} (supported: Henvisning v2.0, ${HENVISNING_V2_NS})` };
  }
  if (tree.name === 'Message' && (tree.ns === HENVISNING_V11_NS || tree.ns === HENVISNING_V10_NS)) {
    return { format: tree.ns, env: envelopeOfV1(tree.node) };
  }
  return { unsupported: `root element {${tree.ns ?? ''}}${tree.name} (supported: MsgHead v1.2 with Henvisning v2.0; Henvisning v1.1 and v1.0 Message)` };
}

/** A message decoded and parsed already (same bytes). */
interface Parsed {
  text: string;
  tree: ReturnType<typeof parseXmlTree>;
}

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
  private readonly formats = new Map<string, FormatHandler>();
  private readonly version = packageVersion();

  constructor(
    private readonly store: MessageStore,
    private readonly fhir: (tenant: string) => FhirStore,
    private readonly mappings: MappingRegistry,
    private readonly options: HenvisningOptions,
  ) {
    this.formats.set(HENVISNING_V2_NS, { schema: SchemaSet.load(path.join(SCHEMA_DIR, 'msghead-henvisning-v2.0.xsd')) });
    this.formats.set(HENVISNING_V11_NS, { schema: SchemaSet.load(path.join(SCHEMA_DIR, 'henvisning-v1.1-set.xsd')) });
    this.formats.set(HENVISNING_V10_NS, { schema: SchemaSet.load(path.join(SCHEMA_DIR, 'Henvisning-v1.0.xsd')) });
  }

  /** Entry point of POST /api/messages (XML body), posted for `tenant` (the token's legal entity). */
  async receive(bytes: Buffer, contentType: string, tenant: string): Promise<ReceiveResult> {
    const t0 = performance.now();
    // Transport-level refusals: no AppRec can be made of these.
    if (bytes.length > this.options.maxBytes) {
      return { kind: 'error', httpStatus: 413, type: 'request_entity_too_large', message: `Request body exceeds the limit of ${this.options.maxBytes} bytes` };
    }
    const head = bytes.subarray(0, 512).toString('latin1').replace(/^\uFEFF|^\u00EF\u00BB\u00BF|^\u00FF\u00FE|^\u00FE\u00FF/, '');
    if (bytes.length === 0 || !looksLikeXml(head.replace(/\u0000/g, ''))) {
      return { kind: 'error', httpStatus: 400, type: 'not_xml', message: 'Request body is not an XML document' };
    }
    // Envelope facts for the message store (best effort; processing re-reads everything strictly).
    let env: Envelope;
    let format: string | undefined;
    let parsed: Parsed | undefined;
    try {
      const decoded = decodeXml(bytes, this.options.maxBytes);
      if (/<!DOCTYPE|<!ENTITY/i.test(decoded.text)) env = envelopeFromText(decoded.text);
      else {
        const tree = parseXmlTree(decoded.text);
        parsed = { text: decoded.text, tree };
        const d = dispatch(tree);
        env = d.env ?? envelopeFromText(decoded.text);
        format = d.format;
      }
    } catch {
      env = envelopeFromText(bytes.toString('latin1'));
    }
    const tParsed = performance.now();
    henvisningStageSeconds.observe({ stage: 'parse' }, (tParsed - t0) / 1000); // processing reuses this parse
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
      });
    } catch (err) {
      if (!(err instanceof DuplicateMessageError)) throw err;
      return this.answerDuplicate(err.existing);
    }
    henvisningStageSeconds.observe({ stage: 'message_store' }, (performance.now() - tParsed) / 1000);
    const done = await this.process(doc, bytes, 'ingest', parsed);
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
      done = await exclusiveAttempt(this.store, existing, async (current) =>
        isFinal(current) ? current : this.process(current, await this.store.raw(current), 'retry'),
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
   * Processes a stored message (ingest, retry or replay) and records the outcome. `parsed`: the decoded text and tree
   * of exactly these bytes when the caller has them already (ingest parses once for the envelope facts).
   */
  async process(doc: MessageDoc, raw: Buffer, trigger: Outcome['trigger'], parsed?: Parsed): Promise<MessageDoc> {
    const started = performance.now();
    const outcome = this.options.limiter ? await this.options.limiter.run(() => this.run(doc, raw, parsed)) : await this.run(doc, raw, parsed);
    const t = performance.now();
    const saved = await this.store.record(doc._id, { ...outcome, trigger, ms: t - started }, doc);
    henvisningStageSeconds.observe({ stage: 'message_store' }, (performance.now() - t) / 1000);
    ingestMessages.inc({ source: 'henvisning', outcome: outcome.status });
    const codes = outcome.error ? [outcome.error.code] : [];
    log().info({ messageId: doc._id, status: outcome.status, codes, trigger, ms: Math.round(t - started) }, 'henvisning processed');
    return saved ?? doc;
  }

  private async run(doc: MessageDoc, raw: Buffer, parsed?: Parsed): Promise<Omit<Outcome, 'trigger'>> {
    let t = performance.now();
    const lap = (stage: string) => {
      const now = performance.now();
      henvisningStageSeconds.observe({ stage }, (now - t) / 1000);
      t = now;
    };
    let env: Envelope = { ...envelopeFromText(''), msgId: doc.externalId };
    const reject = (errors: AppRecError[], message: string, details?: unknown): Omit<Outcome, 'trigger'> => ({
      status: 'rejected',
      error: { code: errors[0].code, message, details },
      receipt: this.appRec(env, errors),
    });

    // 1. Decode and parse.
    let textValue: string;
    try {
      textValue = parsed ? parsed.text : decodeXml(raw, this.options.maxBytes).text;
    } catch (err) {
      env = envelopeFromText(raw.toString('latin1'));
      return reject([{ code: 'T01', detail: (err as Error).message }], (err as Error).message);
    }
    try {
      rejectDtd(textValue);
    } catch (err) {
      env = envelopeFromText(textValue);
      return reject([{ code: 'T99', detail: (err as Error).message }], (err as Error).message);
    }
    let tree: ReturnType<typeof parseXmlTree>;
    try {
      tree = parsed ? parsed.tree : parseXmlTree(textValue);
    } catch (err) {
      env = envelopeFromText(textValue);
      const wf = checkWellFormed(Buffer.from(textValue, 'utf8'));
      const detail = wf.ok ? (err as XmlInputError).message : wf.problems.map((p) => `line ${p.line}: ${p.message}`).join('; ');
      return reject([{ code: 'T01', detail }], 'XML is not well-formed', wf.ok ? undefined : wf.problems);
    }
    const utf8 = Buffer.from(textValue, 'utf8');
    lap('parse');

    // 2. Dispatch on namespace URIs (never on prefixes).
    const d = dispatch(tree);
    env = d.env ?? envelopeFromText(textValue);
    const handler = d.format ? this.formats.get(d.format) : undefined;
    const root = typeof tree.node === 'object' ? tree.node : undefined;
    if (!root || !handler) {
      const wf = checkWellFormed(utf8);
      if (!wf.ok) {
        return reject([{ code: 'T01', detail: wf.problems.map((p) => `line ${p.line}: ${p.message}`).join('; ') }], 'XML is not well-formed', wf.problems);
      }
      const what = d.unsupported ?? `root element {${tree.ns ?? ''}}${tree.name}`;
      return reject([{ code: 'T10', detail: `Unsupported message format: ${what}` }], `Unsupported message format: ${what}`);
    }

    // 3. Schema validation (also the strict well-formedness check).
    const v = handler.schema.validate(utf8);
    lap('xsd');
    if (!v.ok) {
      const detail = v.problems.map((p) => `line ${p.line}: ${p.message}`).join('; ');
      return v.stage === 'wellformed'
        ? reject([{ code: 'T01', detail }], 'XML is not well-formed', v.problems)
        : reject([{ code: 'T02', detail }], 'XML does not validate against the schemas', v.problems);
    }
    const facts = { format: d.format, messageType: env.type.V };

    // 4. Business checks.
    const checks = checkMessage(env, { receiverHerIds: this.options.tenants.receiverHerIds(doc.tenant) });
    lap('checks');
    if (checks.errors.length > 0) {
      const r = reject(checks.errors, checks.errors.map((e) => `${e.code}: ${e.detail ?? ''}`).join('; '));
      return { ...r, warnings: checks.warnings, facts };
    }

    // 5. Mapping (data: mappings/henvisning-v2.0) and FHIR.
    const mapping = this.mappings.forFormat('henvisning', d.format!);
    if (!mapping) {
      return { status: 'failed', error: { code: 'mapping_missing', message: `No mapping for henvisning format ${d.format}` }, warnings: checks.warnings, facts };
    }
    let output: MappingOutput;
    try {
      output = prune(await mapping.evaluate(root, {}, this.options.ids.forTenant(doc.tenant))) as MappingOutput;
      if (!output || !Array.isArray(output.resources)) throw new Error('Mapping output has no "resources" array');
    } catch (err) {
      return this.failed('mapping_failed', err, mapping.ref, checks.warnings);
    }
    lap('map');
    const warnings = [...checks.warnings, ...(output.warnings ?? [])];
    try {
      const fhir = await applyMapped(this.fhir(doc.tenant), output, {
        messageId: env.msgId ?? doc._id,
        sent: env.genDate,
        received: doc.receivedAt,
        storeId: doc._id,
      }, this.options.cache);
      lap('fhir_store');
      return { status: 'processed', fhir, mapping: mapping.ref, warnings, receipt: this.appRec(env, []), facts };
    } catch (err) {
      return this.failed('fhir_store_failed', err, mapping.ref, warnings);
    }
  }

  private failed(code: string, err: unknown, mapping: MappingRef, warnings: string[]): Omit<Outcome, 'trigger'> {
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
