/**
 * The CPU-bound half of HL7 v2 processing, free of I/O so it runs in a worker thread (pool.ts):
 *
 *   character set (MSH-18) → parse (er7.ts, shape limits) → envelope checks (control id, type, processing id,
 *   version, receiving facility) → Norwegian person numbers (check digits) → mapping (JSONata, chosen by MSH-9) →
 *   FHIR validation of what the mapping produced.
 *
 * The result is plain data: the rejection the sender gets (AR for the envelope, AE for the content, with the problems
 * that become ERR segments), a failure of our side, or the mapped resources ready to be written.
 */
import { validatePersonNumber } from '../../lib/identifiers/norwegian-ids.js';
import { hl7DateTime } from '../../mapping/functions.js';
import { MappingRegistry, type MappingRef, type MappingSelection } from '../../mapping/registry.js';
import { mappedIssues } from '../apply.js';
import { prune, type MappingOutput } from '../../mapping/output.js';
import { ResourceIds } from '../../mapping/resource-ids.js';
import type { AckProblem } from './ack.js';
import { decodeEr7, Er7Error, parseEr7, readHeader, type Er7Header, type Er7Input } from '../../lib/er7.js';

export const HL7V2_SOURCE = 'hl7v2';

export interface Hl7AnalyseSettings {
  mappingsDir: string;
  /** Key of the deterministic FHIR ids (ResourceIds), base64. */
  resourceIdKey: string;
}

/** The tenant a message is analysed for; plain data, sent with each task. */
export interface Hl7TenantScope {
  /** The tenant's receiving facilities: `FACILITY` (any application) or `APPLICATION^FACILITY` (MSH-5^MSH-6). */
  receivers: string[];
  /** Key of the tenant's deterministic FHIR ids (ResourceIds.forTenant), base64. */
  resourceIdKey: string;
}

interface Hl7Facts {
  messageType?: string;
  format?: string;
}

export type Hl7Analysis =
  | { kind: 'rejected'; code: 'AR' | 'AE'; problems: AckProblem[]; facts: Hl7Facts }
  | { kind: 'failed'; code: string; message: string; mapping?: MappingRef; facts: Hl7Facts }
  | { kind: 'mapped'; output: MappingOutput; mapping: MappingRef; warnings: string[]; facts: Hl7Facts; sent?: string };

/** MSH-10: printable, at most 199 characters (v2.7 length; older versions allow 20, which senders exceed). */
export const CONTROL_ID = /^[\x21-\x7E](?:[\x20-\x7E]{0,197}[\x21-\x7E])?$/;

/** Whether a receiving application/facility is one of `receivers` (see Hl7TenantScope). */
function receivesFor(receivers: Iterable<string>, application: string, facility: string): boolean {
  for (const r of receivers) if (r === facility || r === `${application}^${facility}`) return true;
  return false;
}

/** Envelope checks that need only the header. */
function headerProblems(h: Er7Header): AckProblem[] {
  const out: AckProblem[] = [];
  if (h.controlId === '') out.push({ code: '101', text: 'Message control id (MSH-10) is missing', segment: 'MSH', field: 10 });
  else if (!CONTROL_ID.test(h.controlId)) {
    out.push({ code: '102', text: 'Message control id (MSH-10) must be 1-199 printable ASCII characters without separators', segment: 'MSH', field: 10 });
  }
  if (h.messageCode === '' || h.triggerEvent === '') out.push({ code: '101', text: 'Message type (MSH-9) needs a message code and a trigger event', segment: 'MSH', field: 9 });
  if (h.processingId !== '' && !/^[PDT]$/.test(h.processingId)) {
    out.push({ code: '202', text: `Processing id "${h.processingId}" (MSH-11) is not P, D or T`, segment: 'MSH', field: 11 });
  }
  if (!/^2\.[1-9](\.\d+)?$/.test(h.version)) out.push({ code: '203', text: `Version "${h.version}" (MSH-12) is not an HL7 v2 version`, segment: 'MSH', field: 12 });
  for (const [f, v] of [[15, h.acceptAckType], [16, h.applicationAckType]] as const) {
    if (v !== '' && !/^(AL|NE|ER|SU)$/.test(v)) out.push({ code: '103', text: `Acknowledgment type "${v}" (MSH-${f}) is not AL, NE, ER or SU`, segment: 'MSH', field: f });
  }
  return out;
}

/** Person-number identifier types (CX.5) and assigning authorities (CX.4.2) checked for valid check digits. */
const PERSON_ID_TYPES = new Set(['FNR', 'DNR', 'NNNOR', 'HNR']);
const PERSON_ID_OIDS = new Set(['2.16.578.1.12.4.1.4.1', '2.16.578.1.12.4.1.4.2', '2.16.578.1.12.4.1.4.3']);

/** Every Norwegian person number in PID-3 and MRG-1 must have valid check digits (AE naming the repetition). */
function personNumberProblems(input: Er7Input): AckProblem[] {
  const out: AckProblem[] = [];
  const check = (segment: string, field: number) =>
    (input[segment] ?? []).forEach((seg) =>
      (seg[String(field)] ?? []).forEach((rep, i) => {
        const declared = PERSON_ID_TYPES.has((rep['5'] ?? '').toUpperCase()) || PERSON_ID_OIDS.has(rep['4.2'] ?? '');
        if (!declared) return;
        const r = validatePersonNumber((rep['1'] ?? '').trim());
        if (!r.valid) {
          out.push({
            code: '102',
            text: `${segment}-${field} repetition ${i + 1} is not a valid fødselsnummer, D-nummer or H-nummer (11 digits with valid check digits)`,
            segment,
            field,
            repetition: i + 1,
          });
        }
      }),
    );
  check('PID', 3);
  check('MRG', 1);
  return out;
}

export class Hl7Analyser {
  private readonly mappings: MappingRegistry;
  /** Message codes (MSH-9.1) some mapping serves: an unknown event of one is 201, an unknown code 200. */
  private readonly codes = new Set<string>();

  constructor(settings: Hl7AnalyseSettings) {
    this.mappings = new MappingRegistry(settings.mappingsDir, new ResourceIds(Buffer.from(settings.resourceIdKey, 'base64')));
    for (const ref of this.mappings.list()) {
      const manifest = this.mappings.byMappingName(ref.name)!.manifest;
      if (manifest.source === HL7V2_SOURCE) for (const f of ([] as string[]).concat(manifest.format)) this.codes.add(f.split('^')[0]);
    }
  }

  /** `selection`: the mapping versions in force (the installation's current ones, or a preview's). */
  async analyse(bytes: Uint8Array, scope: Hl7TenantScope, selection: MappingSelection = {}): Promise<Hl7Analysis> {
    const h = readHeader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (!h) return { kind: 'rejected', code: 'AR', problems: [{ code: '100', text: 'The message does not start with a readable MSH segment', segment: 'MSH' }], facts: {} };
    const messageType = `${h.messageCode}^${h.triggerEvent}`;
    const facts: Hl7Facts = { messageType };
    const envelope = headerProblems(h);
    if (!receivesFor(scope.receivers, h.receivingApplication, h.receivingFacility)) {
      envelope.push({ code: '103', text: `Receiving facility "${h.receivingApplication}^${h.receivingFacility}" (MSH-5/MSH-6) is not one of this receiver's`, segment: 'MSH', field: 6 });
    }
    const found = this.mappings.forFormat(HL7V2_SOURCE, messageType, selection);
    const mapping = found && 'missing' in found ? undefined : found;
    if (!found && h.messageCode !== '' && h.triggerEvent !== '') {
      envelope.push(
        this.codes.has(h.messageCode)
          ? { code: '201', text: `Trigger event ${h.triggerEvent} of ${h.messageCode} (MSH-9) is not supported`, segment: 'MSH', field: 9 }
          : { code: '200', text: `Message type ${h.messageCode} (MSH-9) is not supported`, segment: 'MSH', field: 9 },
      );
    }
    if (envelope.length > 0) return { kind: 'rejected', code: 'AR', problems: envelope, facts };
    // The version chosen as current is not installed here: not mapped rather than mapped with another version.
    if (found && 'missing' in found) return { kind: 'failed', code: 'mapping_missing', message: found.missing, facts };

    let input: Er7Input;
    try {
      input = parseEr7(decodeEr7(bytes, h.characterSet));
    } catch (err) {
      if (!(err instanceof Er7Error)) throw err;
      return { kind: 'rejected', code: 'AR', problems: [{ code: err.code, text: err.message, segment: err.location.segment, field: err.location.field }], facts };
    }
    if (!input.PID) return { kind: 'rejected', code: 'AE', problems: [{ code: '100', text: `${messageType} needs a PID segment`, segment: 'PID' }], facts };
    const persons = personNumberProblems(input);
    if (persons.length > 0) return { kind: 'rejected', code: 'AE', problems: persons, facts };

    const m = mapping!;
    facts.format = messageType;
    const ids = new ResourceIds(Buffer.from(scope.resourceIdKey, 'base64'));
    let output: MappingOutput;
    try {
      output = prune(await m.evaluate(input, {}, ids)) as MappingOutput;
      if (!output || !Array.isArray(output.resources)) throw new Error('Mapping output has no "resources" array');
    } catch (err) {
      return { kind: 'failed', code: 'mapping_failed', message: (err as Error).message, mapping: m.ref, facts };
    }
    const sent = hl7DateTime(h.time);
    const issues = mappedIssues(output, { messageId: h.controlId, sent, received: new Date(), storeId: 'analysis' });
    if (issues.length > 0) {
      return {
        kind: 'rejected',
        code: 'AE',
        problems: issues.map((i) => ({ code: '102', text: `The content does not make valid FHIR: ${i.expression ?? i.resource}: ${i.message}`.slice(0, 500) })),
        facts,
      };
    }
    return { kind: 'mapped', output, mapping: m.ref, warnings: output.warnings ?? [], facts, sent };
  }
}
