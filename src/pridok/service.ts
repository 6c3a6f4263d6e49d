/**
 * Pridok referral webhooks (../shared/spec Pridok payload): signature check, message store, validation, mapping
 * (mappings/pridok-referral-v1) and FHIR.
 *
 *   - authenticated by HMAC-SHA256 over `<timestamp>.<raw body>` with the webhook secret of a tenant (TENANTS):
 *     headers `X-Pridok-Timestamp: <unix seconds>` and `X-Pridok-Signature: sha256=<hex>`, compared in constant
 *     time; the timestamp must be within PRIDOK_SIGNATURE_MAX_SKEW_SECONDS of now, so a captured delivery cannot be
 *     replayed later. The tenant whose secret matches owns the delivery; none → 401 (nothing stored). No tenant with a
 *     secret → 503.
 *   - stored in the message store (dedup key tenant + JournalGuid) before it is processed;
 *   - ajv schema: 422 lists every bad field; PID check digits (FNR/D-nummer, 2032 rule) → 422;
 *   - Patient fetched or created by PID and tagged insurer-referred + no-marketing; ServiceRequest (identifier
 *     JournalGuid, FormatId in an extension); planned Encounter. 201 with the three references.
 *   - the same JournalGuid again → 200 with the same references at once, nothing new. A JournalGuid whose earlier
 *     delivery was rejected or failed is processed again with the new body.
 *   - content FHIR refuses (a MessageTimestamp in year 0000 …) and a MessageTimestamp more than the allowed clock
 *     skew in the future (it would win every newest-wins decision until then, referrals/apply.ts) are the sender's
 *     errors: 422 naming the field, stored as `rejected`.
 */
import { createHmac } from 'node:crypto';
import type { TenantDirectory } from '../tenancy/directory.js';
import type { ResourceIds } from '../referrals/resource-ids.js';
import { log } from '../logging/logger.js';
import type { MappingRef, MappingRegistry, MappingSelection } from '../mapping/registry.js';
import type { CurrentMappings } from '../mapping/current.js';
import type { MappedMessage } from '../messages/replay.js';
import { ingestMessages } from '../metrics/registry.js';
import { exclusiveAttempt, MessageBusyError } from '../messages/attempts.js';
import { DuplicateMessageError, internalError, type MessageDoc, type MessageStore, type Outcome, type Receipt } from '../messages/store.js';
import { applyMapped, mappedIssues, prune, type FhirStore, type MappedIssue, type MappingOutput, type ResourceCache, type SourceInfo } from '../referrals/apply.js';
import { instantMs } from '../mapping/functions.js';
import { fhirStatus } from '../fhir/errors.js';
import type { Limiter } from '../messages/limiter.js';
import { createAjv, invalidAt, validateWith, validationFailed, type ValidationFailedBody } from '../ehealth/validation.js';
import { validatePersonNumber } from '../identifiers/norwegian-ids.js';

export const PRIDOK_FORMAT = 'pridok-referral-json';

export const pridokReferralSchema = {
  type: 'object',
  properties: {
    JournalGuid: { type: 'string', format: 'uuid', description: 'Pridok journal entry id (dedup key)' },
    PID: { type: 'string', pattern: '^[0-9]{11}$', description: 'Fødselsnummer or D-nummer (11 digits)' },
    FormatId: { type: 'string', minLength: 1, maxLength: 200 },
    MessageTimestamp: { type: 'string', format: 'date-time' },
    Firstname: { type: 'string', minLength: 1, maxLength: 200 },
    Lastname: { type: 'string', minLength: 1, maxLength: 200 },
    Email: { type: 'string', format: 'email', maxLength: 254 },
    PhoneNumber: { type: 'string', pattern: '^\\+?[0-9][0-9 ]{4,19}$' },
  },
  required: ['JournalGuid', 'PID', 'FormatId', 'MessageTimestamp', 'Firstname', 'Lastname', 'PhoneNumber'],
} as const;

// .NET writes seven fractional digits ("2022-11-08T22:51:10.1127156Z"); ajv's date-time accepts any number.
const validatePayload = createAjv().compile(pridokReferralSchema);

export interface PridokReferences {
  patient: string;
  service_request: string;
  encounter: string;
}

export type PridokResult =
  | { httpStatus: 200 | 201; data: PridokReferences & { message_id: string } }
  | { httpStatus: number; error: Record<string, unknown> & { type: string; message: string } };

/** What a webhook signature covers: `<timestamp>.<raw body>`. */
export function signedContent(timestamp: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${timestamp}.`, 'latin1'), body]);
}

/** The `X-Pridok-Signature` value for a body sent at `timestamp` (unix seconds, as sent in `X-Pridok-Timestamp`). */
export function signBody(secret: string, body: Buffer, timestamp: string): string {
  return `sha256=${createHmac('sha256', secret).update(signedContent(timestamp, body)).digest('hex')}`;
}

export type SignatureCheck = { tenant: string } | { refused: string };

/**
 * The tenant that signed a delivery: the timestamp within `maxSkewSeconds` of `now` and a signature made with that
 * tenant's secret (src/tenancy/directory.ts compares every secret in constant time).
 */
export function checkSignature(
  tenants: Pick<TenantDirectory, 'pridokTenantOf'>,
  body: Buffer,
  headers: { timestamp?: string; signature?: string },
  maxSkewSeconds: number,
  now = Date.now(),
): SignatureCheck {
  const ts = (headers.timestamp ?? '').trim();
  if (!/^\d{1,12}$/.test(ts)) return { refused: 'Missing or invalid X-Pridok-Timestamp (unix seconds)' };
  if (Math.abs(now / 1000 - Number(ts)) > maxSkewSeconds) {
    return { refused: `X-Pridok-Timestamp is more than ${maxSkewSeconds} s away from the server's clock` };
  }
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec((headers.signature ?? '').trim());
  const tenant = m ? tenants.pridokTenantOf(signedContent(ts, body), m[1]) : undefined;
  return tenant ? { tenant } : { refused: 'Missing or invalid X-Pridok-Signature' };
}

function journalGuidOf(body: Buffer): string | undefined {
  try {
    const j = JSON.parse(body.toString('utf8')) as { JournalGuid?: unknown };
    return typeof j?.JournalGuid === 'string' && j.JournalGuid.length > 0 && j.JournalGuid.length <= 100 ? j.JournalGuid.trim().toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

export class PridokService {
  constructor(
    private readonly store: MessageStore,
    private readonly fhir: (tenant: string) => FhirStore,
    private readonly mappings: MappingRegistry,
    private readonly options: {
      ids: ResourceIds;
      /** The mapping versions in force (installation-wide, from the database). */
      currentMappings: Pick<CurrentMappings, 'selection'>;
      limiter?: Limiter;
      cache?: ResourceCache;
      /** How far MessageTimestamp may be ahead of our clock, in ms (default 5 minutes). */
      futureSkewMs?: number;
      /** How long a first ingest counts as running (attempts.ts). */
      leaseMs?: number;
    },
  ) {}

  /** Entry point of the webhook, after the signature was verified: `tenant` is the one whose secret signed it. */
  async receive(body: Buffer, contentType: string, tenant: string): Promise<PridokResult> {
    const externalId = journalGuidOf(body);
    let doc: MessageDoc;
    try {
      doc = await this.store.insert({ tenant, source: 'pridok', contentType, bytes: body, externalId, format: PRIDOK_FORMAT, messageType: 'REFERRAL' });
    } catch (err) {
      if (!(err instanceof DuplicateMessageError)) throw err;
      ingestMessages.inc({ source: 'pridok', outcome: 'duplicate' });
      const processed = (d: MessageDoc) => d.status === 'processed' && !!d.receipt;
      // Processed already: the stored answer, without claiming an attempt that would record nothing.
      if (processed(err.existing)) return { httpStatus: 200, data: JSON.parse(err.existing.receipt!.body) as PridokReferences & { message_id: string } };
      let done: MessageDoc;
      let ranHere = false;
      try {
        // Once, however many resends and replays arrive at the same time: the first takes the new body and processes
        // it (an earlier delivery was rejected or failed); the others answer with its outcome.
        done = await exclusiveAttempt(this.store, err.existing, async (current) => {
          if (processed(current)) return current;
          ranHere = true;
          return this.process(await this.store.replaceRaw(current, body, contentType), body, 'retry');
        }, { leaseMs: this.options.leaseMs });
      } catch (e) {
        if (!(e instanceof MessageBusyError)) throw e;
        done = (await this.store.get(err.existing._id)) ?? err.existing;
      }
      if (processed(done) && !ranHere) return { httpStatus: 200, data: JSON.parse(done.receipt!.body) as PridokReferences & { message_id: string } };
      return this.result(done);
    }
    return this.result(await this.process(doc, body, 'ingest'));
  }

  private result(doc: MessageDoc): PridokResult {
    if (doc.status === 'processed' && doc.receipt) {
      return { httpStatus: 201, data: JSON.parse(doc.receipt.body) as PridokReferences & { message_id: string } };
    }
    if (doc.status === 'rejected' && doc.receipt) {
      return { httpStatus: Number(doc.receipt.status), error: JSON.parse(doc.receipt.body) as { type: string; message: string } };
    }
    return {
      httpStatus: 500,
      error: { type: 'processing_failed', message: 'The referral was stored but could not be processed; resend it or ask an operator to replay it', message_id: doc._id },
    };
  }

  /** Processes a stored Pridok message (ingest, retry, replay) and records the outcome. */
  /** `given.selection`: the mapping versions to use instead of the current ones (a replay of a previewed version). */
  async process(doc: MessageDoc, raw: Buffer, trigger: Outcome['trigger'], given: { selection?: MappingSelection } = {}): Promise<MessageDoc> {
    const started = performance.now();
    const outcome = this.options.limiter ? await this.options.limiter.run(() => this.run(doc, raw, given.selection)) : await this.run(doc, raw, given.selection);
    const saved = await this.store.record(doc._id, { ...outcome, trigger, ms: performance.now() - started }, doc);
    ingestMessages.inc({ source: 'pridok', outcome: outcome.status });
    log().info({ messageId: doc._id, status: outcome.status, code: outcome.error?.code, trigger }, 'pridok referral processed');
    return saved ?? doc;
  }

  /** Checks and maps a stored message with the current mapping, writing nothing (replay --dry-run). */
  async map(doc: MessageDoc, raw: Buffer, selection?: MappingSelection): Promise<MappedMessage> {
    const p = await this.prepare(doc, raw, selection);
    return 'outcome' in p ? { kind: 'not_mapped', outcome: p.outcome } : { kind: 'mapped', ...p };
  }

  /** Everything before the FHIR writes: validation, mapping and FHIR validation of what the mapping produced. */
  private async prepare(doc: MessageDoc, raw: Buffer, selection?: MappingSelection): Promise<{ outcome: Omit<Outcome, 'trigger'> } | { output: MappingOutput; src: SourceInfo; mapping: MappingRef }> {
    let payload: unknown;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch {
      return { outcome: reject(400, { type: 'request_malformed', message: 'Request body is not valid JSON' }) };
    }
    const invalid = validateWith(validatePayload, payload);
    if (invalid) return { outcome: reject(422, invalid) };
    const p = payload as { PID: string };
    const pid = validatePersonNumber(p.PID);
    if (!pid.valid || pid.kind === 'HNR') {
      return { outcome: reject(422, invalidAt('$.PID', pid.valid ? 'PID is an H-nummer; a fødselsnummer or D-nummer is required' : 'PID is not a valid fødselsnummer or D-nummer (check digits)')) };
    }
    // A time FHIR cannot hold, or one ahead of our clock by more than the skew allowed, is the sender's error.
    const timestamp = (payload as { MessageTimestamp: string }).MessageTimestamp;
    const sentMs = instantMs(timestamp);
    if (Number.isNaN(sentMs) || /^0000/.test(timestamp.trim())) {
      return { outcome: reject(422, invalidAt('$.MessageTimestamp', 'MessageTimestamp is not a valid point in time (year 0001 or later)', 'format', ['date-time'])) };
    }
    const skewMs = this.options.futureSkewMs ?? 300_000;
    if (sentMs > Date.now() + skewMs) {
      return { outcome: reject(422, invalidAt('$.MessageTimestamp', `MessageTimestamp is in the future (more than ${Math.round(skewMs / 1000)} s ahead of the receiver's clock)`, 'future', [{ max_skew_seconds: Math.round(skewMs / 1000) }])) };
    }
    const mapping = this.mappings.forFormat('pridok', PRIDOK_FORMAT, { ...(await this.options.currentMappings.selection()), ...selection });
    if (!mapping || 'missing' in mapping) {
      return { outcome: { status: 'failed', error: { code: 'mapping_missing', message: mapping?.missing ?? 'No Pridok mapping is installed' } } };
    }
    let output: MappingOutput;
    try {
      output = prune(await mapping.evaluate(payload, {}, this.options.ids.forTenant(doc.tenant))) as MappingOutput;
      if (!output || !Array.isArray(output.resources)) throw new Error('Mapping output has no "resources" array');
    } catch (err) {
      return { outcome: { status: 'failed', error: internalError('mapping_failed', err), mapping: mapping.ref } };
    }
    const src: SourceInfo = {
      messageId: (payload as { JournalGuid: string }).JournalGuid,
      sent: timestamp,
      received: doc.receivedAt,
      storeId: doc._id,
    };
    // Everything is validated before anything is written: a refused resource must not leave the others behind.
    const issues = mappedIssues(output, src);
    if (issues.length > 0) return { outcome: reject(422, fhirInvalid(issues)) };
    return { output, src, mapping: mapping.ref };
  }

  private async run(doc: MessageDoc, raw: Buffer, selection?: MappingSelection): Promise<Omit<Outcome, 'trigger'>> {
    const p = await this.prepare(doc, raw, selection);
    if ('outcome' in p) return p.outcome;
    const { output, src, mapping } = p;
    try {
      const applied = await applyMapped(this.fhir(doc.tenant), output, src, this.options.cache);
      const ref = (type: string) => applied.find((a) => a.reference.startsWith(`${type}/`))?.reference ?? '';
      const data = { patient: ref('Patient'), service_request: ref('ServiceRequest'), encounter: ref('Encounter'), message_id: doc._id };
      return { status: 'processed', fhir: applied, mapping, receipt: httpReceipt(201, data) };
    } catch (err) {
      if (fhirStatus(err) === 422) {
        return reject(422, validationFailed([{ entry_type: 'json_data_property', entry: '$', rules: [{ rule: 'fhir', params: [], description: (err as Error).message.slice(0, 500) }] }]));
      }
      const e = err as { status?: number; code?: unknown };
      log().error({ status: e.status, fhirCode: e.code }, 'pridok referral processing failed');
      return { status: 'failed', error: internalError('fhir_store_failed', err), mapping };
    }
  }
}

/** A refusal of the sender's content: the HTTP answer, recorded as the message's receipt. */
function reject(status: number, body: ValidationFailedBody | { type: string; message: string }): Omit<Outcome, 'trigger'> {
  return {
    status: 'rejected',
    error: { code: body.type, message: body.message, details: 'invalid' in body ? body.invalid : undefined },
    receipt: httpReceipt(status, body),
  };
}

/** Payload fields the Pridok mapping fills FHIR elements from (FHIRPath prefix → JSON path), to name them in a 422. */
const FIELD_OF: [RegExp, string][] = [
  [/^Patient\.name(\[\d+\])?\.family/, '$.Lastname'],
  [/^Patient\.name(\[\d+\])?\.given/, '$.Firstname'],
  [/^Patient\.telecom/, '$.PhoneNumber'],
  [/^Patient\.identifier/, '$.PID'],
  [/^ServiceRequest\.authoredOn/, '$.MessageTimestamp'],
  [/\.extension(\[\d+\])?\.extension(\[\d+\])?\.valueDateTime/, '$.MessageTimestamp'],
  [/^ServiceRequest\.extension/, '$.FormatId'],
  [/^ServiceRequest\.identifier/, '$.JournalGuid'],
];

/** 422 body for mapped resources FHIR refuses: each problem under the payload field it came from (or `$`). */
function fhirInvalid(issues: MappedIssue[]): ValidationFailedBody {
  return validationFailed(
    issues.map((i) => ({
      entry_type: 'json_data_property',
      entry: FIELD_OF.find(([re]) => re.test(i.expression ?? ''))?.[1] ?? '$',
      rules: [{ rule: 'fhir', params: [], description: `${i.expression ?? i.resource}: ${i.message}` }],
    })),
  );
}

function httpReceipt(status: number, body: unknown): Receipt {
  return { kind: 'http', status: String(status), contentType: 'application/json', body: JSON.stringify(body), at: new Date() };
}
