/**
 * Iterative DER/BER pre-scanner: validates every tag-length-value of an input BEFORE node-forge parses it.
 *
 * node-forge's parser is recursive and trusts length fields; on hostile input (very deep nesting, lengths pointing far
 * past the end, millions of tiny elements) it can be slow, exhaust the stack or mis-parse. This scanner walks the
 * bytes once with an explicit stack and rejects anything forge could choke on:
 * - a length that runs past its enclosing element or the end of the input (truncation, huge length fields);
 * - nesting deeper than `maxDepth`, more than `maxNodes` elements;
 * - long-form lengths of more than 4 bytes, the reserved length byte 0xFF, indefinite lengths on primitives,
 *   high tag numbers (forge does not support them), end-of-contents outside an indefinite-length element;
 * - an odd-length BMPString (forge reads it two bytes at a time).
 *
 * It also records the byte range of every element in pre-order, which is exactly the order in which
 * forge.asn1.fromDer (with decodeBitStrings off) creates its nodes, so parsed nodes can be mapped back to their
 * ORIGINAL encodings (needed to verify signatures over tbsCertificate etc. exactly as OpenSSL does).
 */

export interface DerScanLimits {
  maxDepth: number;
  maxNodes: number;
}

export const DEFAULT_SCAN_LIMITS: DerScanLimits = { maxDepth: 48, maxNodes: 100_000 };

type DerScanResult =
  | { ok: true; /** [start0, end0, start1, end1, ...] in pre-order */ ranges: Int32Array; count: number }
  | { ok: false; reason: string; offset: number };

const BMPSTRING = 0x1e;

interface Frame {
  /** index of the element in `ranges` */
  index: number;
  /** end offset for definite length, -1 for indefinite */
  end: number;
  /** the limit children must stay within */
  limit: number;
}

export function scanDer(buf: Uint8Array, limits: DerScanLimits = DEFAULT_SCAN_LIMITS): DerScanResult {
  const fail = (reason: string, offset: number): DerScanResult => ({ ok: false, reason, offset });
  const total = buf.length;
  if (total === 0) return fail('empty input', 0);
  let ranges = new Int32Array(Math.min(limits.maxNodes, 1024) * 2);
  let count = 0;
  const stack: Frame[] = [];
  let pos = 0;
  let rootDone = false;

  for (;;) {
    const top = stack.length > 0 ? stack[stack.length - 1] : undefined;
    if (top) {
      if (top.end >= 0) {
        if (pos === top.end) {
          stack.pop();
          continue;
        }
      } else if (pos + 1 < top.limit && buf[pos] === 0 && buf[pos + 1] === 0) {
        pos += 2;
        ranges[top.index * 2 + 1] = pos;
        stack.pop();
        continue;
      } else if (pos >= top.limit) {
        return fail('indefinite-length element without end-of-contents', pos);
      }
    } else if (rootDone) {
      if (pos !== total) return fail(`${total - pos} unexpected bytes after the outer element`, pos);
      return { ok: true, ranges: ranges.subarray(0, count * 2), count };
    }

    const limit = top ? top.limit : total;
    // tag
    if (pos + 2 > limit) return fail('truncated element header', pos);
    const tag = buf[pos];
    if ((tag & 0x1f) === 0x1f) return fail('high tag numbers are not supported', pos);
    if (tag === 0) return fail('unexpected end-of-contents marker', pos);
    const constructed = (tag & 0x20) !== 0;
    // length
    const lb = buf[pos + 1];
    let hdr = 2;
    let len = -1;
    if (lb < 0x80) {
      len = lb;
    } else if (lb === 0x80) {
      if (!constructed) return fail('indefinite length on a primitive element', pos);
    } else if (lb === 0xff) {
      return fail('reserved length octet 0xFF', pos);
    } else {
      const n = lb & 0x7f;
      if (n > 4) return fail(`length field of ${n} bytes is too large`, pos);
      if (pos + 2 + n > limit) return fail('truncated length field', pos);
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[pos + 2 + i];
      hdr = 2 + n;
    }
    const contentStart = pos + hdr;
    if (len >= 0 && contentStart + len > limit) {
      return fail(`element length ${len} exceeds the ${limit - contentStart} bytes available`, pos);
    }
    if (!constructed && (tag & 0xc0) === 0 && (tag & 0x1f) === BMPSTRING && len % 2 !== 0) {
      return fail('BMPString of odd length', pos);
    }
    if (count >= limits.maxNodes) return fail(`more than ${limits.maxNodes} ASN.1 elements`, pos);
    if (stack.length + 1 > limits.maxDepth) return fail(`ASN.1 nesting deeper than ${limits.maxDepth}`, pos);
    if (count * 2 + 2 > ranges.length) {
      const grown = new Int32Array(Math.min(ranges.length * 2, limits.maxNodes * 2));
      grown.set(ranges);
      ranges = grown;
    }
    const index = count++;
    ranges[index * 2] = pos;
    if (!top) rootDone = true;
    if (constructed) {
      const end = len >= 0 ? contentStart + len : -1;
      ranges[index * 2 + 1] = end;
      stack.push({ index, end, limit: len >= 0 ? end : limit });
      pos = contentStart;
    } else {
      pos = contentStart + len;
      ranges[index * 2 + 1] = pos;
    }
  }
}
