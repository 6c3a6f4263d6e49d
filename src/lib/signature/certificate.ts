/** X.509 certificates and CRLs parsed from forge ASN.1 nodes (RSA, RSA-PSS, EC and EdDSA keys alike). */
import crypto from 'node:crypto';
import {
  bitString,
  boolean,
  children,
  directoryString,
  integerHex,
  isContext,
  isUniversal,
  octets,
  oid,
  parseDer,
  raw,
  seq,
  set,
  smallInt,
  Tag,
  time,
  type Node,
  type ParsedDer,
} from './asn1.js';
import { malformed } from './errors.js';
import { parseName, type DistinguishedName } from './name.js';
import { OID } from './oids.js';

export interface AlgorithmIdentifier {
  oid: string;
  params?: Node;
}

export function parseAlgorithm(n: Node | undefined, what: string): AlgorithmIdentifier {
  const parts = seq(n, what, 1);
  const params = parts[1];
  return { oid: oid(parts[0], `${what} OID`), params: params && !isUniversal(params, Tag.NULL) ? params : undefined };
}

export const KeyUsage = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;

interface CertificateExtensions {
  basicConstraints?: { ca: boolean; pathLen?: number };
  /** key usage bits, bit 0 = digitalSignature */
  keyUsage?: number;
  subjectKeyIdentifier?: Buffer;
  authorityKeyIdentifier?: Buffer;
  /** subjectDirectoryAttributes: attribute OID → string values */
  directoryAttributes: { oid: string; values: string[] }[];
  /** critical extensions this verifier does not understand (make the certificate unusable, as in RFC 5280) */
  unhandledCritical: string[];
}

export interface Certificate {
  der: Buffer;
  tbs: Buffer;
  version: number;
  serialNumber: string;
  signatureAlgorithm: AlgorithmIdentifier;
  signature: Buffer;
  issuer: DistinguishedName;
  subject: DistinguishedName;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo DER */
  spki: Buffer;
  publicKeyAlgorithm: string;
  extensions: CertificateExtensions;
  /** SHA-256 of the DER, hex */
  fingerprint: string;
  /** cached public key */
  key?: crypto.KeyObject;
}

/** Critical extensions whose presence does not change the verdict of this verifier (or that it processes). */
const HANDLED_EXTENSIONS = new Set<string>([
  OID.subjectDirectoryAttributes,
  OID.subjectKeyIdentifier,
  OID.keyUsage,
  OID.subjectAltName,
  OID.issuerAltName,
  OID.basicConstraints,
  OID.crlDistributionPoints,
  OID.certificatePolicies,
  OID.policyMappings,
  OID.authorityKeyIdentifier,
  OID.policyConstraints,
  OID.extKeyUsage,
  OID.freshestCrl,
  OID.inhibitAnyPolicy,
  OID.authorityInfoAccess,
  OID.qcStatements,
]);

function keyUsageBits(n: Node, what: string): number {
  const { bytes } = bitString(n, what);
  let bits = 0;
  for (let i = 0; i < Math.min(bytes.length * 8, 16); i++) {
    if ((bytes[i >> 3] >> (7 - (i & 7))) & 1) bits |= 1 << i;
  }
  return bits;
}

export function hasKeyUsage(bits: number, usage: number): boolean {
  return (bits & (1 << usage)) !== 0;
}

function parseExtensions(n: Node | undefined): CertificateExtensions {
  const ext: CertificateExtensions = { directoryAttributes: [], unhandledCritical: [] };
  if (!n) return ext;
  const seen = new Set<string>();
  for (const e of seq(n, 'extensions')) {
    const parts = seq(e, 'extension', 2);
    const id = oid(parts[0], 'extension id');
    if (seen.has(id)) throw malformed(`certificate has a duplicate extension ${id}`);
    seen.add(id);
    let critical = false;
    let valueNode = parts[1];
    if (isUniversal(parts[1], Tag.BOOLEAN)) {
      critical = boolean(parts[1], 'extension critical flag');
      valueNode = parts[2];
    }
    const value = octets(valueNode, `extension ${id} value`);
    const known = HANDLED_EXTENSIONS.has(id);
    if (critical && !known) ext.unhandledCritical.push(id);
    if (!known) continue;
    const inner = (): ParsedDer => parseDer(value);
    switch (id) {
      case OID.basicConstraints: {
        const items = seq(inner().root, 'basicConstraints');
        let i = 0;
        let ca = false;
        if (isUniversal(items[i], Tag.BOOLEAN)) ca = boolean(items[i++], 'basicConstraints cA');
        const pathLen = items[i] ? smallInt(items[i], 'basicConstraints pathLenConstraint') : undefined;
        ext.basicConstraints = { ca, pathLen };
        break;
      }
      case OID.keyUsage:
        ext.keyUsage = keyUsageBits(inner().root, 'keyUsage');
        break;
      case OID.subjectKeyIdentifier:
        ext.subjectKeyIdentifier = octets(inner().root, 'subjectKeyIdentifier');
        break;
      case OID.authorityKeyIdentifier: {
        const first = seq(inner().root, 'authorityKeyIdentifier')[0];
        if (isContext(first, 0) && typeof first.value === 'string') {
          ext.authorityKeyIdentifier = Buffer.from(first.value, 'binary');
        }
        break;
      }
      case OID.subjectDirectoryAttributes: {
        for (const attr of seq(inner().root, 'subjectDirectoryAttributes')) {
          const [typeNode, valuesNode] = seq(attr, 'directory attribute', 2);
          const values: string[] = [];
          for (const v of set(valuesNode, 'directory attribute values')) {
            const s = directoryString(v);
            if (s !== undefined) values.push(s);
          }
          ext.directoryAttributes.push({ oid: oid(typeNode, 'directory attribute type'), values });
        }
        break;
      }
      default:
        break;
    }
  }
  return ext;
}

export function parseCertificateNode(p: ParsedDer, n: Node): Certificate {
  const [tbsNode, algNode, sigNode] = seq(n, 'certificate', 3);
  const tbs = seq(tbsNode, 'tbsCertificate', 6);
  let i = 0;
  let version = 1;
  if (isContext(tbs[0], 0)) {
    version = smallInt(children(tbs[0], 'version')[0], 'version') + 1;
    i++;
  }
  const serialNumber = integerHex(tbs[i++], 'serialNumber');
  const innerAlg = parseAlgorithm(tbs[i++], 'tbsCertificate signature');
  const issuer = parseName(p, tbs[i++], 'issuer');
  const validity = seq(tbs[i++], 'validity', 2);
  const notBefore = time(validity[0], 'notBefore');
  const notAfter = time(validity[1], 'notAfter');
  const subject = parseName(p, tbs[i++], 'subject');
  const spkiNode = tbs[i++];
  const spkiParts = seq(spkiNode, 'subjectPublicKeyInfo', 2);
  const publicKeyAlgorithm = parseAlgorithm(spkiParts[0], 'subjectPublicKeyInfo algorithm').oid;
  let extNode: Node | undefined;
  for (; i < tbs.length; i++) {
    if (isContext(tbs[i], 3)) extNode = children(tbs[i], 'extensions')[0];
    else if (!isContext(tbs[i], 1) && !isContext(tbs[i], 2)) throw malformed('tbsCertificate: unexpected element');
  }
  if (extNode && version !== 3) throw malformed('certificate: extensions in a non-v3 certificate');
  const signatureAlgorithm = parseAlgorithm(algNode, 'certificate signatureAlgorithm');
  if (signatureAlgorithm.oid !== innerAlg.oid) throw malformed('certificate: signature algorithm fields differ');
  const sig = bitString(sigNode, 'certificate signature');
  const der = Buffer.from(raw(p, n));
  return {
    der,
    tbs: der.subarray(tbsNode.start - n.start, tbsNode.end - n.start),
    version,
    serialNumber,
    signatureAlgorithm,
    signature: sig.bytes,
    issuer,
    subject,
    notBefore,
    notAfter,
    spki: Buffer.from(raw(p, spkiNode)),
    publicKeyAlgorithm,
    extensions: parseExtensions(extNode),
    fingerprint: crypto.createHash('sha256').update(der).digest('hex'),
  };
}

export function parseCertificate(der: Buffer): Certificate {
  const p = parseDer(der);
  return parseCertificateNode(p, p.root);
}

/**
 * Public keys by SPKI, least recently used first out. OpenSSL 3's key decoding costs a few hundred microseconds per
 * key — more than the signature check itself — and the same signer and CA keys come back request after request.
 */
const keyCache = new Map<string, crypto.KeyObject>();
const KEY_CACHE_SIZE = 512;

export function clearKeyCache(): void {
  keyCache.clear();
}

export function publicKey(cert: Certificate): crypto.KeyObject {
  if (cert.key) return cert.key;
  const id = cert.spki.toString('base64');
  let key = keyCache.get(id);
  if (key) {
    keyCache.delete(id);
  } else {
    key = crypto.createPublicKey({ key: cert.spki, format: 'der', type: 'spki' });
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value!);
  }
  keyCache.set(id, key);
  cert.key = key;
  return key;
}

export function isSelfIssued(cert: Certificate): boolean {
  return cert.issuer.canonical === cert.subject.canonical;
}

export function toPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

// ---- tax id -------------------------------------------------------------------------------------------------------

/**
 * National id / tax number of the certificate holder:
 * 1. Ukrainian DRFO (RNOKPP) from subjectDirectoryAttributes 1.2.804.2.1.1.1.11.1.4.1.1;
 * 2. the subject serialNumber attribute (2.5.4.5) — ETSI EN 319 412-1 semantics identifiers such as "TINUA-1234567890"
 *    or "PNOUA-1234567890" yield the part after the dash; a bare value (e.g. "1234567890") is returned as is.
 */
export function extractTaxId(cert: Certificate): { taxId: string; source: 'drfo' | 'serialNumber' } | undefined {
  for (const a of cert.extensions.directoryAttributes) {
    if (a.oid === OID.uaDrfo && a.values[0]?.trim()) return { taxId: a.values[0].trim(), source: 'drfo' };
  }
  for (const rdn of cert.subject.rdns) {
    for (const a of rdn) {
      if (a.oid !== OID.serialNumber || a.value.startsWith('#')) continue;
      const v = a.value.trim();
      const m = /^(?:TIN|PNO|IDC|PAS|NTR|VAT|TAX)[A-Z]{2}(?::[A-Z]{2})?-(.+)$/i.exec(v);
      const id = (m ? m[1] : v).trim();
      if (id) return { taxId: id, source: 'serialNumber' };
    }
  }
  return undefined;
}

// ---- CRLs ---------------------------------------------------------------------------------------------------------

export interface RevocationList {
  der: Buffer;
  tbs: Buffer;
  signatureAlgorithm: AlgorithmIdentifier;
  signature: Buffer;
  issuer: DistinguishedName;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** revoked serial numbers (upper-case hex) → revocation date */
  revoked: Map<string, Date>;
  /** delta CRLs are not supported and ignored (their removeFromCRL entries could un-revoke) */
  delta: boolean;
}

export function parseCrl(der: Buffer): RevocationList {
  const p = parseDer(der);
  const [tbsNode, algNode, sigNode] = seq(p.root, 'CRL', 3);
  const tbs = seq(tbsNode, 'tbsCertList', 4);
  let i = 0;
  if (isUniversal(tbs[0], Tag.INTEGER)) i++;
  parseAlgorithm(tbs[i++], 'tbsCertList signature');
  const issuer = parseName(p, tbs[i++], 'CRL issuer');
  const thisUpdate = time(tbs[i++], 'thisUpdate');
  let nextUpdate: Date | undefined;
  if (tbs[i] && (isUniversal(tbs[i], Tag.UTCTIME) || isUniversal(tbs[i], Tag.GENERALIZEDTIME))) {
    nextUpdate = time(tbs[i++], 'nextUpdate');
  }
  const revoked = new Map<string, Date>();
  if (tbs[i] && isUniversal(tbs[i], Tag.SEQUENCE)) {
    for (const entry of seq(tbs[i++], 'revokedCertificates')) {
      const parts = seq(entry, 'revoked certificate', 2);
      revoked.set(integerHex(parts[0], 'revoked serial'), time(parts[1], 'revocationDate'));
    }
  }
  let delta = false;
  if (tbs[i] && isContext(tbs[i], 0)) {
    for (const e of seq(children(tbs[i], 'crlExtensions')[0], 'crlExtensions')) {
      const id = oid(seq(e, 'CRL extension', 2)[0], 'CRL extension id');
      if (id === OID.deltaCrlIndicator) delta = true;
    }
  }
  const root = p.root;
  const copy = Buffer.from(der);
  return {
    der: copy,
    tbs: copy.subarray(tbsNode.start - root.start, tbsNode.end - root.start),
    signatureAlgorithm: parseAlgorithm(algNode, 'CRL signatureAlgorithm'),
    signature: bitString(sigNode, 'CRL signature').bytes,
    issuer,
    thisUpdate,
    nextUpdate,
    revoked,
    delta,
  };
}
