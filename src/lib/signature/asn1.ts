/**
 * ASN.1 access on top of node-forge's parser.
 *
 * `parseDer` first runs the iterative pre-scanner (der-scan.ts), then forge.asn1.fromDer, and finally attaches to
 * every forge node the byte range of its ORIGINAL encoding (`start`/`end`), so signatures can be checked over the
 * exact bytes that were signed. The small readers below turn structural surprises into `malformed` failures.
 */
import forge from 'node-forge';
import { DEFAULT_SCAN_LIMITS, scanDer, type DerScanLimits } from './der-scan.js';
import { malformed } from './errors.js';

export const Tag = {
  BOOLEAN: 1,
  INTEGER: 2,
  BITSTRING: 3,
  OCTETSTRING: 4,
  NULL: 5,
  OID: 6,
  UTF8: 12,
  SEQUENCE: 16,
  SET: 17,
  NUMERIC: 18,
  PRINTABLE: 19,
  T61: 20,
  IA5: 22,
  UTCTIME: 23,
  GENERALIZEDTIME: 24,
  VISIBLE: 26,
  UNIVERSAL: 28,
  BMP: 30,
} as const;

export const UNIVERSAL = 0x00;
const CONTEXT = 0x80;

export interface Node {
  tagClass: number;
  type: number;
  constructed: boolean;
  value: string | Node[];
  /** offset of the first header byte in the parsed input */
  start: number;
  /** offset just past the element (including an end-of-contents marker) */
  end: number;
}

export interface ParsedDer {
  root: Node;
  input: Buffer;
}

/** Parses one complete DER/BER element. Throws a `malformed` VerificationFailure on anything unexpected. */
export function parseDer(input: Buffer, limits: DerScanLimits = DEFAULT_SCAN_LIMITS): ParsedDer {
  const scan = scanDer(input, limits);
  if (!scan.ok) throw malformed(`invalid DER at byte ${scan.offset}: ${scan.reason}`);
  let root: forge.asn1.Asn1;
  try {
    root = (forge.asn1.fromDer as unknown as (b: string, o: object) => forge.asn1.Asn1)(input.toString('binary'), {
      strict: true,
      parseAllBytes: true,
      decodeBitStrings: false,
      maxDepth: limits.maxDepth + 1,
    });
  } catch (err) {
    throw malformed(`invalid DER: ${(err as Error).message}`);
  }
  // attach original byte ranges: forge creates nodes in the scanner's pre-order
  const ranges = scan.ranges;
  let i = 0;
  const stack: forge.asn1.Asn1[] = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (i >= scan.count) throw malformed('invalid DER: element count mismatch');
    const node = n as unknown as Node;
    node.start = ranges[i * 2];
    node.end = ranges[i * 2 + 1];
    i++;
    if (Array.isArray(n.value)) for (let c = n.value.length - 1; c >= 0; c--) stack.push(n.value[c]);
  }
  if (i !== scan.count) throw malformed('invalid DER: element count mismatch');
  return { root: root as unknown as Node, input };
}

export function raw(p: ParsedDer, n: Node): Buffer {
  return p.input.subarray(n.start, n.end);
}

/** Length of the tag+length header of a node as found in the input. */
export function headerLength(p: ParsedDer, n: Node): number {
  const lb = p.input[n.start + 1];
  return lb < 0x80 || lb === 0x80 ? 2 : 2 + (lb & 0x7f);
}

export function isUniversal(n: Node | undefined, type: number): boolean {
  return n !== undefined && n.tagClass === UNIVERSAL && n.type === type;
}

export function isContext(n: Node | undefined, tagNo: number): boolean {
  return n !== undefined && n.tagClass === CONTEXT && n.type === tagNo;
}

export function children(n: Node, what: string): Node[] {
  if (!Array.isArray(n.value)) throw malformed(`${what}: expected a constructed element`);
  return n.value;
}

export function seq(n: Node | undefined, what: string, min = 0): Node[] {
  if (!n || n.tagClass !== UNIVERSAL || n.type !== Tag.SEQUENCE || !Array.isArray(n.value)) {
    throw malformed(`${what}: expected a SEQUENCE`);
  }
  if (n.value.length < min) throw malformed(`${what}: expected at least ${min} elements`);
  return n.value;
}

export function set(n: Node | undefined, what: string): Node[] {
  if (!n || n.tagClass !== UNIVERSAL || n.type !== Tag.SET || !Array.isArray(n.value)) {
    throw malformed(`${what}: expected a SET`);
  }
  return n.value;
}

export function primitive(n: Node | undefined, type: number, what: string): string {
  if (!n || n.tagClass !== UNIVERSAL || n.type !== type || typeof n.value !== 'string') {
    throw malformed(`${what}: unexpected element`);
  }
  return n.value;
}

export function oid(n: Node | undefined, what: string): string {
  const v = primitive(n, Tag.OID, what);
  if (v.length === 0 || v.length > 64 || (v.charCodeAt(v.length - 1) & 0x80) !== 0) {
    throw malformed(`${what}: invalid OBJECT IDENTIFIER`);
  }
  try {
    return forge.asn1.derToOid(v);
  } catch {
    throw malformed(`${what}: invalid OBJECT IDENTIFIER`);
  }
}

/** INTEGER as its two's-complement bytes (as encoded). */
function integerBytes(n: Node | undefined, what: string): Buffer {
  const v = primitive(n, Tag.INTEGER, what);
  if (v.length === 0) throw malformed(`${what}: empty INTEGER`);
  return Buffer.from(v, 'binary');
}

/** Small non-negative INTEGER as a number. */
export function smallInt(n: Node | undefined, what: string): number {
  const b = integerBytes(n, what);
  if (b.length > 4 || (b[0] & 0x80) !== 0) throw malformed(`${what}: integer out of range`);
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

/** Upper-case hex of an INTEGER without redundant leading zero octets (how serial numbers are compared and shown). */
export function integerHex(n: Node | undefined, what: string): string {
  let b = integerBytes(n, what);
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && (b[i + 1] & 0x80) === 0) i++;
  b = b.subarray(i);
  return b.toString('hex').toUpperCase();
}

export function boolean(n: Node | undefined, what: string): boolean {
  const v = primitive(n, Tag.BOOLEAN, what);
  if (v.length !== 1) throw malformed(`${what}: invalid BOOLEAN`);
  return v.charCodeAt(0) !== 0;
}

/** Contents of an OCTET STRING; constructed (BER) octet strings are concatenated. */
export function octets(n: Node | undefined, what: string): Buffer {
  if (!n || n.tagClass !== UNIVERSAL || n.type !== Tag.OCTETSTRING) throw malformed(`${what}: expected an OCTET STRING`);
  if (typeof n.value === 'string') return Buffer.from(n.value, 'binary');
  const parts: Buffer[] = [];
  // nesting depth is bounded by the pre-scanner
  const walk = (x: Node): void => {
    if (x.tagClass !== UNIVERSAL || x.type !== Tag.OCTETSTRING) throw malformed(`${what}: invalid constructed OCTET STRING`);
    if (typeof x.value === 'string') parts.push(Buffer.from(x.value, 'binary'));
    else for (const c of x.value) walk(c);
  };
  walk(n);
  return Buffer.concat(parts);
}

/** BIT STRING: unused-bit count and the bytes. */
export function bitString(n: Node | undefined, what: string): { unused: number; bytes: Buffer } {
  const v = primitive(n, Tag.BITSTRING, what);
  if (v.length === 0) throw malformed(`${what}: empty BIT STRING`);
  const unused = v.charCodeAt(0);
  if (unused > 7 || (unused > 0 && v.length === 1)) throw malformed(`${what}: invalid BIT STRING`);
  return { unused, bytes: Buffer.from(v.slice(1), 'binary') };
}

const UTC_RE = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(Z|[+-]\d{4})$/;
const GEN_RE = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{4})?$/;

/** UTCTime or GeneralizedTime. */
export function time(n: Node | undefined, what: string): Date {
  if (!n || n.tagClass !== UNIVERSAL || typeof n.value !== 'string') throw malformed(`${what}: expected a time`);
  let y: number, mo: number, d: number, h: number, mi: number, s: number, ms = 0, tz: string | undefined;
  if (n.type === Tag.UTCTIME) {
    const m = UTC_RE.exec(n.value);
    if (!m) throw malformed(`${what}: invalid UTCTime`);
    y = Number(m[1]);
    y += y < 50 ? 2000 : 1900;
    [mo, d, h, mi] = [m[2], m[3], m[4], m[5]].map(Number);
    s = m[6] ? Number(m[6]) : 0;
    tz = m[7];
  } else if (n.type === Tag.GENERALIZEDTIME) {
    const m = GEN_RE.exec(n.value);
    if (!m) throw malformed(`${what}: invalid GeneralizedTime`);
    [y, mo, d, h] = [m[1], m[2], m[3], m[4]].map(Number);
    mi = m[5] ? Number(m[5]) : 0;
    s = m[6] ? Number(m[6]) : 0;
    if (m[7]) ms = Math.floor(Number(`0.${m[7]}`) * 1000);
    tz = m[8];
  } else {
    throw malformed(`${what}: expected UTCTime or GeneralizedTime`);
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) throw malformed(`${what}: invalid date`);
  let t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  if (tz && tz !== 'Z') {
    const sign = tz[0] === '+' ? 1 : -1;
    t -= sign * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(3, 5))) * 60_000;
  }
  return new Date(t);
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');

/** Text of a directory string (UTF8String, PrintableString, BMPString, ...); undefined for other types. */
export function directoryString(n: Node): string | undefined {
  if (n.tagClass !== UNIVERSAL || typeof n.value !== 'string') return undefined;
  const bytes = () => Buffer.from(n.value as string, 'binary');
  switch (n.type) {
    case Tag.UTF8:
      return utf8.decode(bytes());
    case Tag.PRINTABLE:
    case Tag.IA5:
    case Tag.NUMERIC:
    case Tag.VISIBLE:
    case Tag.T61:
      return latin1.decode(bytes());
    case Tag.BMP:
      return n.value; // forge already decoded UTF-16BE
    case Tag.UNIVERSAL: {
      const b = bytes();
      let s = '';
      for (let i = 0; i + 3 < b.length; i += 4) {
        const cp = b.readUInt32BE(i);
        s += String.fromCodePoint(cp <= 0x10ffff ? cp : 0xfffd);
      }
      return s;
    }
    default:
      return undefined;
  }
}

/** DER of a node re-encoded by forge (definite lengths), e.g. for signed attributes. */
export function toDer(n: Node): Buffer {
  return Buffer.from(forge.asn1.toDer(n as unknown as forge.asn1.Asn1).getBytes(), 'binary');
}
