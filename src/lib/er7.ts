/**
 * HL7 v2 messages in ER7 (the `|^~\&` encoding): the header read from the first segment (cheap, bounded: safe on the
 * event loop), the character set declared in MSH-18, and the whole message as the plain JSON the mappings read.
 *
 * Segments, fields, repetitions and components are split by @medplum/core's Hl7Message; subcomponents and escape
 * sequences (\F\ \S\ \T\ \R\ \E\, \.br\, \Xhh…\) are resolved here, with the separators and escape character the
 * message declares in MSH-1/MSH-2.
 *
 * Mapping input: `{ "<segment name>": [segment, …] }` in message order (Z-segments left out), where a segment is
 * `{ "<field number>": [repetition, …] }` (MSH numbered as in the standard: MSH-3 is "3") and a repetition is
 * `{ "<component number>": "text", "<component>.<subcomponent>": "text" }` (the first subcomponent under the
 * component's own number). Empty fields, components and the HL7 null `""` are left out.
 */
import { Hl7Message } from '@medplum/core';

/** Shape limits of one message (the frame or body size limit bounds the rest). */
const ER7_LIMITS = { segments: 2_000, fieldsPerSegment: 250, repetitions: 200, components: 100, subcomponents: 50 };

export class Er7Error extends Error {
  constructor(
    message: string,
    /** Where the problem is, as an HL7 error location: segment, sequence, field. */
    readonly location: { segment: string; field?: number },
    /** HL7 table 0357 error code. */
    readonly code: string,
  ) {
    super(message);
    this.name = 'Er7Error';
  }
}

export interface Er7Header {
  fieldSeparator: string;
  /** MSH-2: component, repetition, escape, subcomponent characters. */
  encodingCharacters: string;
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-7 as sent (HL7 TS). */
  time: string;
  /** MSH-9.1, MSH-9.2, MSH-9.3. */
  messageCode: string;
  triggerEvent: string;
  messageStructure: string;
  /** MSH-10. */
  controlId: string;
  /** MSH-11.1. */
  processingId: string;
  /** MSH-12.1. */
  version: string;
  /** MSH-15 and MSH-16 (enhanced acknowledgement mode when either is given). */
  acceptAckType: string;
  applicationAckType: string;
  /** MSH-18.1. */
  characterSet: string;
}

/** The header ends at the first segment separator; a header longer than this is refused. */
const MAX_HEADER_BYTES = 4096;

interface Separators {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

function separatorsOf(text: string): Separators {
  return { field: text[3], component: text[4], repetition: text[5] ?? '~', escape: text[6] ?? '\\', subcomponent: text[7] ?? '&' };
}

/**
 * The header of a message: its first segment, read as Latin-1 (the separators and header values are ASCII in every
 * character set HL7 allows here). Undefined when the bytes do not start with a usable MSH segment.
 */
export function readHeader(bytes: Buffer): Er7Header | undefined {
  const head = bytes.subarray(0, MAX_HEADER_BYTES).toString('latin1');
  const end = head.search(/[\r\n]/);
  if (end < 0 && bytes.length > MAX_HEADER_BYTES) return undefined;
  const line = end < 0 ? head : head.slice(0, end);
  if (!/^MSH[^A-Za-z0-9\r\n]/.test(line) || line.length < 8) return undefined;
  const sep = separatorsOf(line);
  const enc = line.slice(4, line.indexOf(sep.field, 4) < 0 ? line.length : line.indexOf(sep.field, 4));
  if (enc.length < 2 || enc.length > 5 || new Set([sep.field, ...enc]).size !== enc.length + 1 || /[A-Za-z0-9 ]/.test(enc)) return undefined;
  // fields[i] is MSH-(i+1): MSH-1 is the field separator itself.
  const fields = line.split(sep.field);
  const comp = (n: number, c = 1) => unescape(((fields[n - 1] ?? '').split(sep.repetition)[0].split(sep.component)[c - 1] ?? '').split(sep.subcomponent)[0], sep).trim();
  return {
    fieldSeparator: sep.field,
    encodingCharacters: enc,
    sendingApplication: comp(3),
    sendingFacility: comp(4),
    receivingApplication: comp(5),
    receivingFacility: comp(6),
    time: comp(7),
    messageCode: comp(9, 1),
    triggerEvent: comp(9, 2),
    messageStructure: comp(9, 3),
    controlId: (fields[9] ?? '').trim(),
    processingId: comp(11),
    version: comp(12),
    acceptAckType: comp(15).toUpperCase(),
    applicationAckType: comp(16).toUpperCase(),
    characterSet: comp(18).toUpperCase(),
  };
}

/** Character sets of MSH-18 (HL7 table 0211) the engine reads, by their TextDecoder label. */
const CHARSETS: Record<string, string> = {
  '': 'utf-8',
  ASCII: 'utf-8',
  'UNICODE UTF-8': 'utf-8',
  'UTF-8': 'utf-8',
  '8859/1': 'latin1',
  '8859/15': 'iso-8859-15',
};

/** The TextDecoder label of an MSH-18 value, or undefined when the engine does not read that character set. */
function charsetOf(characterSet: string): string | undefined {
  return CHARSETS[characterSet.trim().toUpperCase()];
}

/** Decodes a message in the character set it declares (MSH-18; none = UTF-8, which ASCII is part of). */
export function decodeEr7(bytes: Uint8Array, characterSet: string): string {
  const label = charsetOf(characterSet);
  if (!label) {
    throw new Er7Error(`Character set "${characterSet}" (MSH-18) is not supported (supported: ASCII, UNICODE UTF-8, 8859/1, 8859/15)`, { segment: 'MSH', field: 18 }, '103');
  }
  try {
    return new TextDecoder(label, { fatal: true }).decode(bytes);
  } catch {
    throw new Er7Error(`The message is not valid ${characterSet || 'UTF-8'} (MSH-18)`, { segment: 'MSH', field: 18 }, '102');
  }
}

/** Resolves escape sequences (HL7 v2 section 2.7): separators, line breaks, hexadecimal data; formatting is dropped. */
function unescape(value: string, sep: Separators): string {
  const e = sep.escape;
  if (!e || !value.includes(e)) return value;
  let out = '';
  let i = 0;
  while (i < value.length) {
    const ch = value[i];
    const close = ch === e ? value.indexOf(e, i + 1) : -1;
    if (close < 0) {
      out += ch;
      i++;
      continue;
    }
    const seq = value.slice(i + 1, close);
    if (seq === 'F') out += sep.field;
    else if (seq === 'S') out += sep.component;
    else if (seq === 'T') out += sep.subcomponent;
    else if (seq === 'R') out += sep.repetition;
    else if (seq === 'E') out += e;
    else if (seq === '.br') out += '\n';
    else if (/^X([0-9A-Fa-f]{2})+$/.test(seq)) out += Buffer.from(seq.slice(1), 'hex').toString('latin1');
    else if (!/^(H|N|\.[a-z]{2}[+-]?\d*|C[0-9A-Fa-f]{4}|M[0-9A-Fa-f]{4,6}|Z[^\\]*)$/.test(seq)) {
      // Not an escape sequence: the text stands as written.
      out += value.slice(i, close + 1);
    }
    i = close + 1;
  }
  return out;
}

/** Escapes text for a field of an ER7 message the engine writes (ACKs). */
export function escapeEr7(text: string, sep: Separators = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' }): string {
  let out = '';
  for (const ch of text) {
    if (ch === sep.escape) out += `${sep.escape}E${sep.escape}`;
    else if (ch === sep.field) out += `${sep.escape}F${sep.escape}`;
    else if (ch === sep.component) out += `${sep.escape}S${sep.escape}`;
    else if (ch === sep.subcomponent) out += `${sep.escape}T${sep.escape}`;
    else if (ch === sep.repetition) out += `${sep.escape}R${sep.escape}`;
    else if (ch === '\r' || ch === '\n') out += `${sep.escape}.br${sep.escape}`;
    else out += ch;
  }
  return out;
}

type Er7Repetition = Record<string, string>;
type Er7Segment = Record<string, Er7Repetition[]>;
export type Er7Input = Record<string, Er7Segment[]>;

/** The whole message as mapping input (see the file comment); Er7Error for a message that cannot be read. */
export function parseEr7(text: string): Er7Input {
  const normalised = text.replace(/^\uFEFF/, '').replace(/\r\n?|\n/g, '\r').replace(/\r+$/, '');
  if (!/^MSH[^A-Za-z0-9\r]/.test(normalised)) throw new Er7Error('The message does not start with an MSH segment', { segment: 'MSH' }, '100');
  const sep = separatorsOf(normalised);
  const lines = normalised.split('\r').filter((l) => l.trim() !== '');
  if (lines.length > ER7_LIMITS.segments) throw new Er7Error(`The message has more than ${ER7_LIMITS.segments} segments`, { segment: 'MSH' }, '100');
  const message = Hl7Message.parse(lines.join('\r'));
  const out: Er7Input = {};
  message.segments.forEach((segment, index) => {
    const name = segment.name;
    if (!/^[A-Z][A-Z0-9]{2}$/.test(name)) throw new Er7Error(`Segment ${index + 1} has no valid segment name`, { segment: name.slice(0, 3) || '?' }, '100');
    if (index > 0 && name === 'MSH') throw new Er7Error('The message has a second MSH segment (batches are not accepted)', { segment: 'MSH' }, '100');
    if (name.startsWith('Z')) return;
    if (segment.fields.length > ER7_LIMITS.fieldsPerSegment + 1) {
      throw new Er7Error(`Segment ${name} has more than ${ER7_LIMITS.fieldsPerSegment} fields`, { segment: name }, '100');
    }
    const seg: Er7Segment = {};
    const isMsh = name === 'MSH';
    segment.fields.forEach((field, i) => {
      if (i === 0 || (isMsh && i === 1)) return; // the name; MSH-2 (the encoding characters)
      const number = isMsh ? i + 1 : i;
      if (field.components.length > ER7_LIMITS.repetitions) {
        throw new Er7Error(`${name}-${number} has more than ${ER7_LIMITS.repetitions} repetitions`, { segment: name, field: number }, '102');
      }
      const reps: Er7Repetition[] = [];
      for (const components of field.components) {
        if (components.length > ER7_LIMITS.components) {
          throw new Er7Error(`${name}-${number} has more than ${ER7_LIMITS.components} components`, { segment: name, field: number }, '102');
        }
        const rep: Er7Repetition = {};
        components.forEach((c, ci) => {
          const subs = c.split(sep.subcomponent);
          if (subs.length > ER7_LIMITS.subcomponents) {
            throw new Er7Error(`${name}-${number} has more than ${ER7_LIMITS.subcomponents} subcomponents`, { segment: name, field: number }, '102');
          }
          subs.forEach((s, si) => {
            if (s === '' || s === '""') return;
            rep[si === 0 ? String(ci + 1) : `${ci + 1}.${si + 1}`] = unescape(s, sep);
          });
        });
        if (Object.keys(rep).length > 0) reps.push(rep);
      }
      if (reps.length > 0) seg[String(number)] = reps;
    });
    (out[name] ??= []).push(seg);
  });
  return out;
}
