/** X.501 distinguished names: display string, canonical form for comparison, attribute lookup. */
import { directoryString, oid, raw, set, seq, type Node, type ParsedDer } from './asn1.js';
import { malformed } from './errors.js';
import { NAME_ATTRIBUTE_LABELS } from './oids.js';

interface NameAttribute {
  oid: string;
  /** decoded text, or `#hex` of the value's DER for non-string values */
  value: string;
}

export interface DistinguishedName {
  /** original DER encoding */
  der: Buffer;
  rdns: NameAttribute[][];
  /** e.g. "C=UA, O=Test CA, CN=Signer" (attributes in encoding order) */
  text: string;
  /** case- and whitespace-insensitive form used to compare names (like OpenSSL's canonical encoding) */
  canonical: string;
}

function escapeValue(v: string): string {
  let s = v.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`);
  if (s.startsWith('#') || s.startsWith(' ')) s = `\\${s}`;
  if (s.endsWith(' ') && s.length > 0) s = `${s.slice(0, -1)}\\ `;
  return s;
}

export function parseName(p: ParsedDer, n: Node | undefined, what: string): DistinguishedName {
  const rdnNodes = seq(n, what);
  const rdns: NameAttribute[][] = [];
  for (const rdnNode of rdnNodes) {
    const rdn: NameAttribute[] = [];
    for (const atv of set(rdnNode, `${what} RDN`)) {
      const [typeNode, valueNode] = seq(atv, `${what} attribute`, 2);
      const type = oid(typeNode, `${what} attribute type`);
      const text = directoryString(valueNode);
      rdn.push({ oid: type, value: text ?? `#${raw(p, valueNode).toString('hex')}` });
    }
    if (rdn.length === 0) throw malformed(`${what}: empty RDN`);
    rdns.push(rdn);
  }
  const text = rdns
    .map((rdn) => rdn.map((a) => `${NAME_ATTRIBUTE_LABELS[a.oid] ?? a.oid}=${escapeValue(a.value)}`).join('+'))
    .join(', ');
  const canonical = rdns
    .map((rdn) =>
      rdn
        .map((a) => `${a.oid}=${a.value.startsWith('#') ? a.value : a.value.trim().replace(/\s+/g, ' ').toLowerCase()}`)
        .sort()
        .join('+'),
    )
    .join('/');
  return { der: Buffer.from(raw(p, n!)), rdns, text, canonical };
}

export function namesEqual(a: DistinguishedName, b: DistinguishedName): boolean {
  return a.der.equals(b.der) || a.canonical === b.canonical;
}

