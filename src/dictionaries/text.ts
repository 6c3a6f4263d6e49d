/**
 * Bytes → text for uploads and source files: a declared charset is honoured (any label the WHATWG Encoding standard
 * knows: utf-8, iso-8859-1, windows-1252, …); without one, a UTF-8 or UTF-16 byte order mark decides, and otherwise
 * the bytes must be valid UTF-8 (no silent guessing: a Latin-1 file without `charset=` is rejected, not mangled).
 * And a small RFC 4180 CSV reader (quoted fields, doubled quotes, CRLF/LF, `,` `;` or tab detected from the header).
 */

import { TextDecoder } from 'node:util';

export class TextDecodeError extends Error {
  constructor(
    public readonly kind: 'unsupported_charset' | 'invalid_encoding',
    message: string,
  ) {
    super(message);
    this.name = 'TextDecodeError';
  }
}

/** The `charset` parameter of a Content-Type header, lower-cased; undefined when absent. */
export function charsetOf(contentType: string | undefined): string | undefined {
  const m = /;\s*charset\s*=\s*("?)([^";\s]+)\1/i.exec(contentType ?? '');
  return m ? m[2].toLowerCase() : undefined;
}

export function decodeText(bytes: Uint8Array, charset?: string): string {
  if (charset) {
    let decoder: TextDecoder;
    try {
      decoder = new TextDecoder(charset, { fatal: true, ignoreBOM: false });
    } catch {
      throw new TextDecodeError('unsupported_charset', `Unsupported charset "${charset}"; use UTF-8, ISO-8859-1 or windows-1252`);
    }
    // WHATWG maps iso-8859-1/latin1 to windows-1252; Node decodes 0x80–0x9F as C1 controls instead: do it here.
    if (decoder.encoding === 'windows-1252') return decodeWindows1252(bytes);
    try {
      return decoder.decode(bytes);
    } catch {
      throw new TextDecodeError('invalid_encoding', `The body is not valid ${decoder.encoding} (${firstInvalidUtf8Hint(bytes, decoder.encoding)})`);
    }
  }
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) {
    return new TextDecoder(bytes[0] === 0xff ? 'utf-16le' : 'utf-16be').decode(bytes);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes); // strips a UTF-8 BOM
  } catch {
    const offset = firstInvalidUtf8(bytes);
    throw new TextDecodeError(
      'invalid_encoding',
      `The body is not valid UTF-8 (first invalid byte at offset ${offset}). Send UTF-8, or declare the encoding, ` +
        'e.g. "Content-Type: text/csv; charset=ISO-8859-1" or "charset=windows-1252"',
    );
  }
}

// Bytes 0x80–0x9F of windows-1252 (WHATWG index); unassigned bytes map to the C1 control of the same value.
const CP1252_HIGH = '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

function decodeWindows1252(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    const chunk = bytes.subarray(i, i + 8192);
    const chars = new Array<string>(chunk.length);
    for (let k = 0; k < chunk.length; k++) {
      const b = chunk[k];
      chars[k] = b >= 0x80 && b < 0xa0 ? CP1252_HIGH[b - 0x80] : String.fromCharCode(b);
    }
    out += chars.join('');
  }
  return out;
}

function firstInvalidUtf8Hint(bytes: Uint8Array, encoding: string): string {
  return encoding === 'utf-8' ? `first invalid byte at offset ${firstInvalidUtf8(bytes)}` : 'undecodable bytes';
}

/** Offset of the first byte that breaks UTF-8 (for the error message). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const n = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= bytes.length || (bytes[i + k] & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return -1;
}

export class CsvError extends Error {
  constructor(
    public readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'CsvError';
  }
}

interface CsvRow {
  /** 1-based line number where the record starts. */
  line: number;
  fields: string[];
}

/** Picks `,`, `;` or tab: whichever occurs most often (outside quotes) in the first line. */
function detectDelimiter(text: string): string {
  let inQuotes = false;
  const counts: Record<string, number> = { ',': 0, ';': 0, '\t': 0 };
  for (const ch of text) {
    if (ch === '"') inQuotes = !inQuotes;
    else if (!inQuotes && (ch === '\n' || ch === '\r')) break;
    else if (!inQuotes && ch in counts) counts[ch]++;
  }
  const [best, n] = Object.entries(counts).sort((a, b) => b[1] - a[1])[0];
  return n > 0 ? best : ',';
}

/** Parses CSV text into records; blank lines are skipped. Throws CsvError on an unterminated quote. */
export function parseCsv(text: string, delimiter = detectDelimiter(text)): CsvRow[] {
  const rows: CsvRow[] = [];
  let fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let quotedField = false;
  let line = 1;
  let startLine = 1;
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '' && !quotedField)) rows.push({ line: startLine, fields });
    fields = [];
    field = '';
    quotedField = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          inQuotes = false;
        }
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field === '') {
      inQuotes = true;
      quotedField = true;
    } else if (ch === delimiter) {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      startLine = line;
    } else {
      field += ch;
    }
  }
  if (inQuotes) throw new CsvError(startLine, 'unterminated quoted field');
  if (field !== '' || fields.length > 0 || quotedField) endRecord();
  return rows;
}
