/** CMS (RFC 5652) / PKCS#7 SignedData structure, read from forge ASN.1 nodes. */
import {
  children,
  headerLength,
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
  type Node,
  type ParsedDer,
} from './asn1.js';
import { parseAlgorithm, parseCertificateNode, type AlgorithmIdentifier, type Certificate } from './certificate.js';
import { malformed } from './errors.js';
import { parseName, type DistinguishedName } from './name.js';
import { OID } from './oids.js';

const MAX_CERTIFICATES = 64;
const MAX_SIGNERS = 16;

type SignerIdentifier =
  | { kind: 'issuerAndSerialNumber'; issuer: DistinguishedName; serialNumber: string }
  | { kind: 'subjectKeyIdentifier'; keyId: Buffer };

interface SignedAttributes {
  /** the [0] IMPLICIT node; the signature covers its DER with the SET OF tag */
  node: Node;
  /** attribute type → values (duplicates are rejected) */
  byType: Map<string, Node[]>;
}

export interface SignerInfo {
  version: number;
  sid: SignerIdentifier;
  digestAlgorithm: AlgorithmIdentifier;
  signedAttrs?: SignedAttributes;
  signatureAlgorithm: AlgorithmIdentifier;
  signature: Buffer;
}

export interface SignedData {
  parsed: ParsedDer;
  eContentType: string;
  /** undefined for a detached signature */
  eContent?: Buffer;
  certificates: Certificate[];
  signerInfos: SignerInfo[];
}

function parseAttributes(n: Node): SignedAttributes {
  const byType = new Map<string, Node[]>();
  for (const attr of children(n, 'signedAttrs')) {
    const [typeNode, valuesNode] = seq(attr, 'signed attribute', 2);
    const type = oid(typeNode, 'signed attribute type');
    if (byType.has(type)) throw malformed(`signed attribute ${type} appears more than once`);
    byType.set(type, set(valuesNode, `signed attribute ${type} values`));
  }
  return { node: n, byType };
}

function parseSignerInfo(p: ParsedDer, n: Node): SignerInfo {
  const parts = seq(n, 'SignerInfo', 5);
  let i = 0;
  const version = smallInt(parts[i++], 'SignerInfo version');
  const sidNode = parts[i++];
  let sid: SignerIdentifier;
  if (isUniversal(sidNode, Tag.SEQUENCE)) {
    const [issuerNode, serialNode] = seq(sidNode, 'issuerAndSerialNumber', 2);
    sid = { kind: 'issuerAndSerialNumber', issuer: parseName(p, issuerNode, 'signer issuer'), serialNumber: integerHex(serialNode, 'signer serial number') };
  } else if (isContext(sidNode, 0) && typeof sidNode.value === 'string') {
    sid = { kind: 'subjectKeyIdentifier', keyId: Buffer.from(sidNode.value, 'binary') };
  } else {
    throw malformed('SignerInfo: unknown signer identifier');
  }
  const digestAlgorithm = parseAlgorithm(parts[i++], 'SignerInfo digestAlgorithm');
  let signedAttrs: SignedAttributes | undefined;
  if (isContext(parts[i], 0)) signedAttrs = parseAttributes(parts[i++]);
  const signatureAlgorithm = parseAlgorithm(parts[i++], 'SignerInfo signatureAlgorithm');
  const signature = octets(parts[i++], 'SignerInfo signature');
  if (parts[i] && !isContext(parts[i], 1)) throw malformed('SignerInfo: unexpected element after the signature');
  return { version, sid, digestAlgorithm, signedAttrs, signatureAlgorithm, signature };
}

/** Contents octets of a non-OCTET STRING eContent (PKCS#7 v1.5 "content ANY"). */
function contentOctets(p: ParsedDer, n: Node): Buffer {
  const r = raw(p, n);
  const body = r.subarray(headerLength(p, n));
  return p.input[n.start + 1] === 0x80 ? body.subarray(0, body.length - 2) : body;
}

export function parseSignedData(der: Buffer): SignedData {
  const p = parseDer(der);
  const ci = seq(p.root, 'ContentInfo', 2);
  const type = oid(ci[0], 'ContentInfo contentType');
  if (type !== OID.signedData) throw malformed(`ContentInfo is not SignedData (${type})`);
  if (!isContext(ci[1], 0)) throw malformed('ContentInfo: content must be [0] EXPLICIT');
  const sd = seq(children(ci[1], 'ContentInfo content')[0], 'SignedData', 4);
  let i = 0;
  smallInt(sd[i++], 'SignedData version');
  set(sd[i++], 'SignedData digestAlgorithms');
  const eci = seq(sd[i++], 'EncapsulatedContentInfo', 1);
  const eContentType = oid(eci[0], 'eContentType');
  let eContent: Buffer | undefined;
  if (eci[1]) {
    if (!isContext(eci[1], 0)) throw malformed('EncapsulatedContentInfo: eContent must be [0] EXPLICIT');
    const inner = children(eci[1], 'eContent');
    if (inner.length !== 1) throw malformed('EncapsulatedContentInfo: eContent must hold one element');
    eContent = isUniversal(inner[0], Tag.OCTETSTRING) ? octets(inner[0], 'eContent') : Buffer.from(contentOctets(p, inner[0]));
  }
  const certificates: Certificate[] = [];
  if (isContext(sd[i], 0)) {
    for (const c of children(sd[i++], 'certificates')) {
      if (!isUniversal(c, Tag.SEQUENCE)) continue; // attribute certificates and other formats are ignored
      if (certificates.length >= MAX_CERTIFICATES) throw malformed(`more than ${MAX_CERTIFICATES} certificates`);
      certificates.push(parseCertificateNode(p, c));
    }
  }
  if (isContext(sd[i], 1)) i++; // embedded CRLs are not used: revocation data comes from configuration
  const signerNodes = set(sd[i++], 'SignedData signerInfos');
  if (sd[i]) throw malformed('SignedData: unexpected element after signerInfos');
  if (signerNodes.length > MAX_SIGNERS) throw malformed(`more than ${MAX_SIGNERS} signers`);
  const signerInfos = signerNodes.map((n) => parseSignerInfo(p, n));
  return { parsed: p, eContentType, eContent, certificates, signerInfos };
}

/** Value of a single-valued signed attribute, or undefined when absent. */
export function singleAttribute(attrs: SignedAttributes, type: string, what: string): Node | undefined {
  const values = attrs.byType.get(type);
  if (!values) return undefined;
  if (values.length !== 1) throw malformed(`${what} attribute must have exactly one value`);
  return values[0];
}
