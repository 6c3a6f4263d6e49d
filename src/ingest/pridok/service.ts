/**
 * Pridok referral webhooks (the payload of Pridok's referral specification): signature check, message store, validation, mapping
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
import type { TenantDirectory } from '../../platform/tenancy/directory.js';
import type { ResourceIds } from '../../mapping/resource-ids.js';
import { log } from '../../platform/logging/logger.js';
import type { MappingRegistry } from '../../mapping/registry.js';
import { internalError, type MessageDoc, type MessageStore, type Outcome, type Receipt } from '../message-store.js';
import { mappedIssues, type FhirStore, type MappedIssue, type SourceInfo } from '../apply.js';
import { IngestPipeline, resentContent, type MappedInput, type NotMapped, type PipelineOptions, type RunInputs, type RunOutcome } from '../pipeline.js';
import { prune, type MappingOutput } from '../../mapping/output.js';
import { instantMs } from '../../mapping/functions.js';
import { createAjv, invalidAt, validateWith, validationFailed, type ValidationFailedBody } from '../../platform/http/validation-error.js';
import { validatePersonNumber } from '../../lib/identifiers/norwegian-ids.js';

const PRIDOK_FORMAT = 'pridok-referral-json';

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

interface PridokReferences {
  patient: string;
  service_request: string;
  encounter: string;
}

type PridokResult =
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

type SignatureCheck = { tenant: string } | { refused: string };

/**
 * The tenant that signed a delivery: the timestamp within `maxSkewSeconds` of `now` and a signature made with that
 * tenant's secret (src/platform/tenancy/directory.ts compares every secret in constant time).
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

export class PridokService extends IngestPipeline {
  protected readonly source = 'pridok';
  /** A resend of a rejected or failed referral is processed again with its new body. */
  protected readonly resendContent = resentContent;

  constructor(
    store: MessageStore,
    fhir: (tenant: string) => FhirStore,
    private readonly mappings: MappingRegistry,
    private readonly options: PipelineOptions & {
      ids: ResourceIds;
      /** How far MessageTimestamp may be ahead of our clock, in ms (default 5 minutes). */
      futureSkewMs?: number;
    },
  ) {
    super(store, fhir, options);
  }

  /** Entry point of the webhook, after the signature was verified: `tenant` is the one whose secret signed it. */
  async receive(body: Buffer, contentType: string, tenant: string): Promise<PridokResult> {
    const externalId = journalGuidOf(body);
    const d = await this.ingest({ tenant, source: 'pridok', contentType, bytes: body, externalId, format: PRIDOK_FORMAT, messageType: 'REFERRAL' });
    // A resend of a referral processed before (not by this call): 200 with the stored references.
    if (d.duplicate && !d.processedHere && this.isFinal(d.doc)) return { httpStatus: 200, data: JSON.parse(d.doc.receipt!.body) as PridokReferences & { message_id: string } };
    return this.result(d.doc);
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

  /** Only a processed referral is final (a resend gets its references again, 200). */
  protected isFinal(doc: MessageDoc): boolean {
    return doc.status === 'processed' && !!doc.receipt;
  }

  protected logOutcome(doc: MessageDoc, outcome: RunOutcome, trigger: Outcome['trigger']): void {
    log().info({ messageId: doc._id, status: outcome.status, code: outcome.error?.code, trigger }, 'pridok referral processed');
  }

  protected logWriteFailure(err: unknown): void {
    const e = err as { status?: number; code?: unknown };
    log().error({ status: e.status, fhirCode: e.code }, 'pridok referral processing failed');
  }

  /** Validation, mapping and FHIR validation of what the mapping produced. */
  protected async prepare(doc: MessageDoc, raw: Buffer, given?: RunInputs): Promise<MappedInput | NotMapped> {
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
    const mapping = this.mappings.forFormat('pridok', PRIDOK_FORMAT, await this.mappingSelection(given?.selection));
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
    return {
      output,
      src,
      mapping: mapping.ref,
      accepted: (applied) => {
        const ref = (type: string) => applied.find((a) => a.reference.startsWith(`${type}/`))?.reference ?? '';
        return httpReceipt(201, { patient: ref('Patient'), service_request: ref('ServiceRequest'), encounter: ref('Encounter'), message_id: doc._id });
      },
      refused: (err) =>
        reject(422, validationFailed([{ entry_type: 'json_data_property', entry: '$', rules: [{ rule: 'fhir', params: [], description: err.message.slice(0, 500) }] }])),
    };
  }
}

/** A refusal of the sender's content: the HTTP answer, recorded as the message's receipt. */
function reject(status: number, body: ValidationFailedBody | { type: string; message: string }): RunOutcome {
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
