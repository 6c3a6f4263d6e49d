/**
 * Hardened reading of untrusted XML.
 *
 * 1. `decodeXml`: size limit, then bytes → string by the byte-order mark or the XML declaration's `encoding`
 *    (UTF-8 with or without BOM, UTF-16 with BOM, ISO-8859-1 / Latin-1, US-ASCII, windows-1252), CR and CRLF line ends
 *    normalised to LF as XML 1.0 §2.11 requires.
 * 2. `rejectDtd`: any `<!DOCTYPE` or `<!ENTITY` is refused before a parser sees the text, so there is no DTD, no
 *    entity expansion (billion laughs) and no external entity (XXE) to worry about further down.
 * 3. `parseXmlTree`: fast-xml-parser with every value kept as a string (`01016400952` stays a string), then prefixes are
 *    resolved to namespace URIs here (prefixes are the sender's choice; only URIs mean anything). The tree uses local
 *    names: an element with text only is a string; otherwise an object with its attributes (local names, xmlns
 *    declarations dropped), its children, `_text` for mixed text and `_ns` for its namespace URI when it differs from
 *    its parent's (always on the root). Repeated elements become arrays.
 *
 * 4. `checkXmlShape`: one linear pass over the text, run by `parseXmlTree` before fast-xml-parser builds anything,
 *    that stops at the first element, attribute, depth or text-length limit exceeded (XmlInputError kind `limit`).
 *    fast-xml-parser and libxml2 take seconds and hundreds of megabytes for inputs such as ~850 000 attributes on one
 *    element or millions of empty elements; the pass takes milliseconds and keeps nothing but a stack of open names.
 *
 * Well-formedness itself is checked by libxml2 (see xsd.ts), which is strict where fast-xml-parser is lenient.
 */
import { XMLParser } from 'fast-xml-parser';

export class XmlInputError extends Error {
  constructor(
    /**
     * not_xml: does not look like XML at all; too_large; encoding: undecodable; dtd: DOCTYPE/ENTITY present; malformed;
     * limit: an input shape limit (XmlLimits) exceeded
     */
    public readonly kind: 'not_xml' | 'too_large' | 'encoding' | 'dtd' | 'malformed' | 'limit',
    message: string,
  ) {
    super(message);
    this.name = 'XmlInputError';
  }
}

export interface DecodedXml {
  text: string;
  /** The encoding the bytes were decoded with (canonical name). */
  encoding: string;
}

const DECL = /^<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']/;

const ENCODINGS: Record<string, string> = {
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  'iso-8859-1': 'latin1',
  'iso8859-1': 'latin1',
  iso_8859_1: 'latin1',
  'iso_8859-1': 'latin1',
  latin1: 'latin1',
  'latin-1': 'latin1',
  'l1': 'latin1',
  'us-ascii': 'ascii',
  ascii: 'ascii',
  'windows-1252': 'windows-1252',
  cp1252: 'windows-1252',
  'utf-16': 'utf-16',
};

/** Decodes XML bytes by BOM or declaration; throws XmlInputError. */
export function decodeXml(bytes: Uint8Array, maxBytes: number): DecodedXml {
  if (bytes.byteLength > maxBytes) throw new XmlInputError('too_large', `Message exceeds ${maxBytes} bytes`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let text: string;
  let encoding: string;
  if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
    encoding = 'utf-8';
    text = strictUtf8(buf.subarray(3));
  } else if (buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xfe) {
    encoding = 'utf-16le';
    text = new TextDecoder('utf-16le', { fatal: true }).decode(buf.subarray(2));
  } else if (buf.length >= 2 && buf[0] === 0xfe && buf[1] === 0xff) {
    encoding = 'utf-16be';
    text = new TextDecoder('utf-16be', { fatal: true }).decode(buf.subarray(2));
  } else {
    // The declaration is ASCII in every encoding we accept without a BOM.
    const head = buf.subarray(0, 200).toString('latin1').replace(/^\s+/, '');
    const m = DECL.exec(head);
    const declared = m ? m[1].toLowerCase() : 'utf-8';
    const enc = ENCODINGS[declared];
    if (!enc || enc === 'utf-16') {
      throw new XmlInputError('encoding', `Unsupported or undetectable encoding "${m ? m[1] : ''}"`);
    }
    encoding = enc === 'latin1' ? 'iso-8859-1' : enc;
    if (enc === 'utf-8') text = strictUtf8(buf);
    else if (enc === 'latin1') text = buf.toString('latin1');
    else if (enc === 'ascii') {
      if (buf.some((b) => b > 0x7f)) throw new XmlInputError('encoding', 'Non-ASCII byte in a US-ASCII document');
      text = buf.toString('latin1');
    } else text = new TextDecoder(enc, { fatal: true }).decode(buf);
  }
  // XML 1.0 §2.11: CRLF and lone CR become LF.
  if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
  return { text, encoding };
}

function strictUtf8(buf: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new XmlInputError('encoding', 'Bytes are not valid UTF-8');
  }
}

/** True when the text starts like an XML document (after optional whitespace): `<?xml`, a comment or an element. */
export function looksLikeXml(text: string): boolean {
  return /^\s*<[?!A-Za-z_]/.test(text);
}

/** Refuses document type declarations and entity declarations anywhere in the text. */
export function rejectDtd(text: string): void {
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text)) {
    throw new XmlInputError('dtd', 'Document type and entity declarations are not allowed');
  }
}

export type XmlValue = string | XmlElement | Array<string | XmlElement>;
export interface XmlElement {
  _ns?: string;
  _text?: string;
  [name: string]: XmlValue | undefined;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '#text',
  removeNSPrefix: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true, // only the five predefined entities and character references remain possible (no DTD)
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false,
  cdataPropName: false,
  allowBooleanAttributes: false,
  maxNestedTags: 64,
  // Attachments: base64 text needs no entity processing; treating it as raw text halves the cost of a PDF-carrying message.
  stopNodes: ['*.Base64Container'],
});

/** Input shape limits of one XML document (see checkXmlShape). */
export interface XmlLimits {
  /** Elements in the document. */
  maxElements: number;
  /** Attributes (namespace declarations included) on one element. */
  maxAttributesPerElement: number;
  /** Attributes in the document. */
  maxAttributes: number;
  /** Nesting depth of elements (the root is depth 1). */
  maxDepth: number;
  /** Characters of one text node, CDATA section or attribute value; the text of `Base64Container` elements (attachments) is bounded only by the message size. */
  maxTextLength: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = {
  maxElements: 100_000,
  maxAttributesPerElement: 100,
  maxAttributes: 200_000,
  maxDepth: 64,
  maxTextLength: 2 * 1024 * 1024,
};

/** What checkXmlShape counted (up to the first limit exceeded). */
export interface XmlShape {
  elements: number;
  attributes: number;
  maxDepth: number;
  longestText: number;
}

/** Text children of these elements (local names) are exempt from maxTextLength. */
const UNBOUNDED_TEXT = new Set(['Base64Container']);

function isNameChar(c: number): boolean {
  // Anything but whitespace, '/', '>' and '=' ends nothing here: names are checked strictly by the parsers later.
  return c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x2f && c !== 0x3e && c !== 0x3d;
}

/**
 * Counts elements, attributes, depth and text lengths in one pass and throws XmlInputError (kind `limit`) at the first
 * limit exceeded, naming it. Not a well-formedness check: malformed markup is left to the parsers, which only run
 * on text this pass accepted (a stray `<` or an unterminated quote ends the pass without error).
 */
export function checkXmlShape(text: string, limits: XmlLimits): XmlShape {
  const shape: XmlShape = { elements: 0, attributes: 0, maxDepth: 0, longestText: 0 };
  const open: string[] = [];
  const fail = (what: string, limit: number) => {
    throw new XmlInputError('limit', `XML exceeds the limit of ${limit} ${what}`);
  };
  const textRun = (len: number) => {
    if (len > shape.longestText) shape.longestText = len;
    if (len > limits.maxTextLength) {
      const inside = open[open.length - 1];
      if (inside === undefined || !UNBOUNDED_TEXT.has(inside)) fail(`characters in one text node or attribute value${inside ? ` (in ${inside})` : ''}`, limits.maxTextLength);
    }
  };
  const n = text.length;
  let i = 0;
  while (i < n) {
    const lt = text.indexOf('<', i);
    if (lt < 0) {
      textRun(n - i);
      break;
    }
    if (lt > i) textRun(lt - i);
    const next = text.charCodeAt(lt + 1);
    if (next === 0x21 /* ! */) {
      if (text.startsWith('<!--', lt)) {
        const end = text.indexOf('-->', lt + 4);
        i = end < 0 ? n : end + 3;
      } else if (text.startsWith('<![CDATA[', lt)) {
        const end = text.indexOf(']]>', lt + 9);
        textRun((end < 0 ? n : end) - (lt + 9));
        i = end < 0 ? n : end + 3;
      } else {
        const end = text.indexOf('>', lt + 2);
        i = end < 0 ? n : end + 1;
      }
      continue;
    }
    if (next === 0x3f /* ? */) {
      const end = text.indexOf('?>', lt + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (next === 0x2f /* / */) {
      open.pop();
      const end = text.indexOf('>', lt + 2);
      i = end < 0 ? n : end + 1;
      continue;
    }
    // A start tag: name, attributes (name = "value" | 'value'), then '>' or '/>'.
    let j = lt + 1;
    while (j < n && isNameChar(text.charCodeAt(j))) j++;
    const qname = text.slice(lt + 1, j);
    const colon = qname.indexOf(':');
    const local = colon < 0 ? qname : qname.slice(colon + 1);
    if (++shape.elements > limits.maxElements) fail('elements', limits.maxElements);
    let attrs = 0;
    let selfClosing = false;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 0x3e /* > */) break;
      if (c === 0x2f /* / */ && text.charCodeAt(j + 1) === 0x3e) {
        selfClosing = true;
        j++;
        break;
      }
      if (c === 0x22 || c === 0x27 /* quotes */) {
        const end = text.indexOf(c === 0x22 ? '"' : "'", j + 1);
        if (end < 0) {
          j = n;
          break;
        }
        textRun(end - j - 1);
        j = end + 1;
        continue;
      }
      if (c === 0x3d /* = */) {
        if (++attrs > limits.maxAttributesPerElement) fail(`attributes on one element (<${qname}>)`, limits.maxAttributesPerElement);
        if (++shape.attributes > limits.maxAttributes) fail('attributes', limits.maxAttributes);
      }
      j++;
    }
    i = j + 1;
    if (!selfClosing) {
      open.push(local);
      if (open.length > shape.maxDepth) shape.maxDepth = open.length;
      if (open.length > limits.maxDepth) fail('levels of nested elements', limits.maxDepth);
    } else if (open.length + 1 > shape.maxDepth) {
      shape.maxDepth = open.length + 1;
      if (shape.maxDepth > limits.maxDepth) fail('levels of nested elements', limits.maxDepth);
    }
  }
  return shape;
}

type Raw = Record<string, unknown>;

/**
 * Parses (already decoded, DTD-free) XML into the namespace-resolved tree; returns the root's local name and node.
 * With `limits`, the input shape is checked first (checkXmlShape) and nothing is parsed when a limit is exceeded.
 */
export function parseXmlTree(text: string, limits?: XmlLimits): { name: string; ns: string | undefined; node: XmlElement | string } {
  if (limits) checkXmlShape(text, limits);
  let raw: Raw;
  try {
    raw = parser.parse(text) as Raw;
  } catch (err) {
    throw new XmlInputError('malformed', `XML could not be parsed: ${(err as Error).message.split('\n')[0]}`);
  }
  const roots = Object.keys(raw).filter((k) => !k.startsWith('#') && !k.startsWith('?'));
  if (roots.length !== 1) throw new XmlInputError('malformed', 'XML must have exactly one root element');
  const qname = roots[0];
  const value = raw[qname];
  const scope = new Map<string, string>([['xml', 'http://www.w3.org/XML/1998/namespace']]);
  const converted = convertElement(qname, Array.isArray(value) ? value[0] : value, scope, undefined);
  return { name: localName(qname), ns: converted.ns, node: converted.node };
}

function localName(qname: string): string {
  const i = qname.indexOf(':');
  return i < 0 ? qname : qname.slice(i + 1);
}

function prefixOf(qname: string): string {
  const i = qname.indexOf(':');
  return i < 0 ? '' : qname.slice(0, i);
}

function convertElement(
  qname: string,
  value: unknown,
  parentScope: Map<string, string>,
  parentNs: string | undefined,
): { ns: string | undefined; node: XmlElement | string } {
  if (value === null || value === undefined || typeof value !== 'object') {
    // Text-only element without attributes (or empty element): namespace from the inherited scope.
    const ns = parentScope.get(prefixOf(qname));
    if (prefixOf(qname) && ns === undefined) throw new XmlInputError('malformed', `Unbound namespace prefix "${prefixOf(qname)}"`);
    return { ns, node: value === null || value === undefined ? '' : String(value) };
  }
  const obj = value as Raw;
  let scope = parentScope;
  for (const key of Object.keys(obj)) {
    if (key === '@xmlns' || key.startsWith('@xmlns:')) {
      if (scope === parentScope) scope = new Map(parentScope);
      scope.set(key === '@xmlns' ? '' : key.slice(7), String(obj[key]));
    }
  }
  const prefix = prefixOf(qname);
  const ns = scope.get(prefix);
  if (prefix && ns === undefined) throw new XmlInputError('malformed', `Unbound namespace prefix "${prefix}"`);
  const out: XmlElement = {};
  if (ns && ns !== parentNs) out._ns = ns;
  let hasContent = false;
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (key === '#text') {
      const t = String(v);
      if (t.trim() !== '') {
        out._text = t;
        hasContent = true;
      }
      continue;
    }
    if (key.startsWith('@')) {
      if (key === '@xmlns' || key.startsWith('@xmlns:')) continue;
      const aname = key.slice(1);
      // Unprefixed attributes have no namespace; prefixed ones keep their qualified name (xsi:type …).
      out[aname.includes(':') ? aname : aname] = String(v);
      hasContent = true;
      continue;
    }
    const lname = localName(key);
    if (Array.isArray(v)) {
      out[lname] = v.map((item) => convertElement(key, item, scope, ns).node);
    } else {
      out[lname] = convertElement(key, v, scope, ns).node;
    }
    hasContent = true;
  }
  if (!hasContent) return { ns, node: '' };
  // Element with only text (and maybe namespace declarations): keep it a plain string.
  const keys = Object.keys(out).filter((k) => k !== '_ns');
  if (keys.length === 1 && keys[0] === '_text') return { ns, node: out._text as string };
  return { ns, node: out };
}

/** Escapes text for XML element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;'));
}
