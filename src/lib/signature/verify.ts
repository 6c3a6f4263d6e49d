/**
 * verifySignedData: the one entry point of the CMS signature verifier. Every outcome is a verdict; nothing throws.
 *
 * Order of checks (and so which code wins when several things are wrong), mirroring `openssl cms -verify`:
 * input size/encoding/DER → SignedData structure (`malformed`) → a signer exists and its certificate is in the
 * SignedData (`no_signer`) → algorithms and key (`unsupported_algorithm`) → certification path (`untrusted_signer`,
 * `certificate_revoked`, `certificate_expired`) → signature (`bad_signature`) → messageDigest (`digest_mismatch`).
 */
import { checkKey, digest, digestFromAlgorithm, signatureScheme, verifyAsync, type DigestName } from './algorithms.js';
import { octets, oid, Tag, time, toDer, UNIVERSAL } from './asn1.js';
import { clearKeyCache, extractTaxId, publicKey, toPem, type Certificate } from './certificate.js';
import { clearChainCache, validatePath } from './chain.js';
import { parseSignedData, singleAttribute, type SignerInfo } from './cms.js';
import { malformed, VerificationFailure } from './errors.js';
import { namesEqual } from './name.js';
import { OID } from './oids.js';
import type { SignatureVerdict, SignerSummary, VerifyOptions } from './types.js';

export const DEFAULT_MAX_INPUT_BYTES = 10 * 1024 * 1024;

/**
 * Forgets the cached public keys and already-verified certificate signatures (bounded LRU caches that only hold
 * results of successful checks). For benchmarks of the cold path; never needed for correctness.
 */
export function clearVerifierCaches(): void {
  clearKeyCache();
  clearChainCache();
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL_RE = /^[A-Za-z0-9_-]*={0,2}$/;

function decodeText(text: string, max: number): Buffer {
  // base64 grows by 4/3; allow generous whitespace/armour before rejecting without decoding
  if (text.length > Math.ceil(max / 3) * 4 * 1.1 + 4096) throw malformed(`signed data exceeds ${max} bytes`);
  let body = text;
  const begin = body.indexOf('-----BEGIN ');
  if (begin >= 0) {
    const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(body.slice(begin));
    if (!m) throw malformed('PEM armour without a matching END line');
    body = m[2].replace(/^[A-Za-z-]+:.*$/gm, '');
  }
  body = body.replace(/\s+/g, '');
  if (body.length === 0) throw malformed('empty input');
  const url = !BASE64_RE.test(body);
  if (url && !BASE64URL_RE.test(body)) throw malformed('input is neither DER nor base64');
  if (body.replace(/=+$/, '').length % 4 === 1) throw malformed('truncated base64');
  const der = Buffer.from(body, url ? 'base64url' : 'base64');
  if (der.length > max) throw malformed(`signed data exceeds ${max} bytes`);
  return der;
}

function decodeInput(input: string | Uint8Array, max: number): Buffer {
  if (typeof input === 'string') return decodeText(input, max);
  if (!(input instanceof Uint8Array)) throw malformed('input must be a base64 string or DER bytes');
  const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.length === 0) throw malformed('empty input');
  if (bytes[0] === 0x30) {
    if (bytes.length > max) throw malformed(`signed data exceeds ${max} bytes`);
    return bytes;
  }
  return decodeText(bytes.toString('latin1'), max);
}

function summarize(cert: Certificate): SignerSummary {
  const tax = extractTaxId(cert);
  return {
    subject: cert.subject.text,
    issuer: cert.issuer.text,
    serialNumber: cert.serialNumber,
    ...(tax ? { taxId: tax.taxId, taxIdSource: tax.source } : {}),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprintSha256: cert.fingerprint,
  };
}

function findSignerCertificate(si: SignerInfo, certs: readonly Certificate[]): Certificate | undefined {
  const sid = si.sid;
  if (sid.kind === 'issuerAndSerialNumber') {
    return certs.find((c) => c.serialNumber === sid.serialNumber && namesEqual(c.issuer, sid.issuer));
  }
  return certs.find((c) => c.extensions.subjectKeyIdentifier?.equals(sid.keyId));
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function parseJson(content: Buffer): unknown {
  let i = 0;
  if (content[0] === 0xef && content[1] === 0xbb && content[2] === 0xbf) i = 3; // UTF-8 BOM
  while (i < content.length && (content[i] === 0x20 || content[i] === 0x0a || content[i] === 0x0d || content[i] === 0x09)) i++;
  if (content[i] !== 0x7b && content[i] !== 0x5b) return undefined;
  try {
    return JSON.parse(utf8Strict.decode(content.subarray(i)));
  } catch {
    return undefined;
  }
}

interface SignerOutcome {
  summary: SignerSummary;
  certificate: Certificate;
  signingTime?: Date;
  digestAlgorithm: string;
  signatureAlgorithm: string;
}

/**
 * Verifies a CMS/PKCS#7 SignedData (base64, PEM or DER). Never throws; see SignatureVerdict for the outcome.
 */
export async function verifySignedData(input: string | Uint8Array, options: VerifyOptions): Promise<SignatureVerdict> {
  let signerCount: number | undefined;
  let signer: SignerSummary | undefined;
  let content: Buffer | undefined;
  try {
    const trust = options?.trust;
    if (!trust) throw new VerificationFailure('untrusted_signer', 'no trust store given');
    const now = options.now ?? new Date();
    const allowSha1 = options.allowSha1 ?? trust.allowSha1;
    const der = decodeInput(input, options.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES);
    const sd = parseSignedData(der);
    signerCount = sd.signerInfos.length;
    const detached = options.detachedContent
      ? Buffer.from(options.detachedContent.buffer, options.detachedContent.byteOffset, options.detachedContent.byteLength)
      : undefined;
    content = sd.eContent ?? detached;
    if (!content) throw malformed('detached signature: the signed content was not supplied');
    if (signerCount === 0) throw new VerificationFailure('no_signer', 'the SignedData has no SignerInfo');

    const digests = new Map<DigestName, Buffer>();
    const outcomes: SignerOutcome[] = [];
    for (const si of sd.signerInfos) {
      const cert = findSignerCertificate(si, sd.certificates);
      if (!cert) throw new VerificationFailure('no_signer', 'the signer certificate is not included in the SignedData');
      const summary = summarize(cert);
      signer ??= summary;

      const digestName = digestFromAlgorithm(si.digestAlgorithm, allowSha1);
      const scheme = signatureScheme(si.signatureAlgorithm, allowSha1, digestName);
      let key;
      try {
        key = publicKey(cert);
      } catch {
        throw new VerificationFailure('unsupported_algorithm', `signer public key algorithm ${cert.publicKeyAlgorithm} not supported`);
      }
      checkKey(key, scheme, 'signer key');

      let signingTime: Date | undefined;
      let messageDigest: Buffer | undefined;
      let attrContentType: string | undefined;
      if (si.signedAttrs) {
        const ct = singleAttribute(si.signedAttrs, OID.contentType, 'contentType');
        const md = singleAttribute(si.signedAttrs, OID.messageDigest, 'messageDigest');
        if (!ct || !md) throw malformed('signed attributes must include contentType and messageDigest');
        attrContentType = oid(ct, 'contentType attribute');
        messageDigest = octets(md, 'messageDigest attribute');
        const st = singleAttribute(si.signedAttrs, OID.signingTime, 'signingTime');
        if (st) signingTime = time(st, 'signingTime attribute');
      } else if (sd.eContentType !== OID.data) {
        throw malformed(`content type ${sd.eContentType} requires signed attributes`);
      }

      const at = options.validationTime !== 'now' && signingTime && signingTime <= now ? signingTime : now;
      validatePath(cert, sd.certificates, trust, at, allowSha1);

      const signedBytes = si.signedAttrs ? toDer({ ...si.signedAttrs.node, tagClass: UNIVERSAL, type: Tag.SET }) : content;
      if (!(await verifyAsync(scheme, key, signedBytes, si.signature))) {
        throw new VerificationFailure('bad_signature', 'the signature does not verify with the signer certificate');
      }
      if (si.signedAttrs) {
        if (attrContentType !== sd.eContentType) {
          throw new VerificationFailure('bad_signature', 'the signed contentType attribute does not match the content type');
        }
        let d = digests.get(digestName);
        if (!d) digests.set(digestName, (d = digest(digestName, content)));
        if (!d.equals(messageDigest!)) {
          throw new VerificationFailure('digest_mismatch', 'the content does not match the signed messageDigest');
        }
      }
      outcomes.push({ summary, certificate: cert, signingTime, digestAlgorithm: digestName, signatureAlgorithm: scheme.name });
    }
    if (sd.eContent && detached && !detached.equals(sd.eContent)) {
      throw new VerificationFailure('digest_mismatch', 'the detached content differs from the encapsulated content');
    }

    const first = outcomes[0];
    const json = parseJson(content);
    return {
      valid: true,
      content,
      ...(json !== undefined ? { json } : {}),
      signerCount,
      signer: first.summary,
      signers: outcomes.map((o) => o.summary),
      ...(first.signingTime ? { signingTime: first.signingTime } : {}),
      certificatePem: toPem(first.certificate.der),
      contentType: sd.eContentType,
      digestAlgorithm: first.digestAlgorithm,
      signatureAlgorithm: first.signatureAlgorithm,
    };
  } catch (err) {
    let code: VerificationFailure['code'] = 'malformed';
    let message: string;
    let unexpected: string | undefined;
    if (err instanceof VerificationFailure) {
      code = err.code;
      message = err.message;
    } else {
      message = 'the signed data could not be processed';
      unexpected = (err as Error)?.message ?? String(err);
    }
    return {
      valid: false,
      code,
      message,
      ...(unexpected !== undefined ? { unexpected } : {}),
      ...(signerCount !== undefined ? { signerCount } : {}),
      ...(signer ? { signer } : {}),
      ...(content ? { content } : {}),
    };
  }
}
