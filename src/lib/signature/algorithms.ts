/**
 * Digest and signature algorithms: mapping AlgorithmIdentifiers to Node's crypto, with the policy of what is accepted.
 * Digests SHA-256/384/512 (SHA-1 only when allowed); RSA PKCS#1 v1.5, RSASSA-PSS (MGF1 with the same hash), ECDSA on
 * P-256/P-384/P-521, Ed25519/Ed448.
 */
import crypto from 'node:crypto';
import { children, isContext, oid, seq, smallInt } from './asn1.js';
import { parseAlgorithm, type AlgorithmIdentifier } from './certificate.js';
import { malformed, VerificationFailure } from './errors.js';
import { OID } from './oids.js';

export type DigestName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

const DIGEST_BY_OID: Record<string, DigestName | 'sha224'> = {
  [OID.sha1]: 'sha1',
  [OID.sha224]: 'sha224',
  [OID.sha256]: 'sha256',
  [OID.sha384]: 'sha384',
  [OID.sha512]: 'sha512',
};

const MIN_RSA_BITS = 2048;
const ALLOWED_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

function unsupported(message: string): VerificationFailure {
  return new VerificationFailure('unsupported_algorithm', message);
}

function acceptHash(name: DigestName | 'sha224' | undefined, what: string, allowSha1: boolean): DigestName {
  if (name === undefined || name === 'sha224') throw unsupported(`${what}: digest algorithm not supported`);
  if (name === 'sha1' && !allowSha1) throw unsupported(`${what}: SHA-1 is not accepted (SIGNATURE_ALLOW_SHA1)`);
  return name;
}

/** Digest algorithm of a SignerInfo (digestAlgorithm field). */
export function digestFromAlgorithm(alg: AlgorithmIdentifier, allowSha1: boolean): DigestName {
  return acceptHash(DIGEST_BY_OID[alg.oid], `digest algorithm ${alg.oid}`, allowSha1);
}

interface SignatureScheme {
  kind: 'rsa' | 'rsa-pss' | 'ecdsa' | 'eddsa';
  /** hash for crypto.verify; null for EdDSA */
  hash: DigestName | null;
  saltLength?: number;
  /** human-readable name for messages */
  name: string;
}

const RSA_PKCS1: Record<string, DigestName | 'sha224'> = {
  [OID.sha1WithRSA]: 'sha1',
  [OID.sha224WithRSA]: 'sha224',
  [OID.sha256WithRSA]: 'sha256',
  [OID.sha384WithRSA]: 'sha384',
  [OID.sha512WithRSA]: 'sha512',
};
const ECDSA: Record<string, DigestName | 'sha224'> = {
  [OID.ecdsaWithSHA1]: 'sha1',
  [OID.ecdsaWithSHA224]: 'sha224',
  [OID.ecdsaWithSHA256]: 'sha256',
  [OID.ecdsaWithSHA384]: 'sha384',
  [OID.ecdsaWithSHA512]: 'sha512',
};

function pssParams(alg: AlgorithmIdentifier, allowSha1: boolean): { hash: DigestName; saltLength: number } {
  let hashName: DigestName | 'sha224' | undefined = 'sha1';
  let mgfHash: DigestName | 'sha224' | undefined = 'sha1';
  let saltLength = 20;
  if (alg.params) {
    for (const field of seq(alg.params, 'RSASSA-PSS parameters')) {
      const inner = children(field, 'RSASSA-PSS parameter')[0];
      if (isContext(field, 0)) {
        hashName = DIGEST_BY_OID[parseAlgorithm(inner, 'PSS hashAlgorithm').oid];
      } else if (isContext(field, 1)) {
        const mgf = parseAlgorithm(inner, 'PSS maskGenAlgorithm');
        if (mgf.oid !== OID.mgf1) throw unsupported(`RSASSA-PSS mask generation ${mgf.oid} not supported`);
        if (!mgf.params) throw malformed('RSASSA-PSS MGF1 without a hash');
        mgfHash = DIGEST_BY_OID[oid(seq(mgf.params, 'MGF1 hash', 1)[0], 'MGF1 hash')];
      } else if (isContext(field, 2)) {
        saltLength = smallInt(inner, 'PSS saltLength');
      } else if (isContext(field, 3)) {
        if (smallInt(inner, 'PSS trailerField') !== 1) throw unsupported('RSASSA-PSS trailerField other than 1');
      } else {
        throw malformed('RSASSA-PSS parameters: unexpected field');
      }
    }
  }
  const hash = acceptHash(hashName, 'RSASSA-PSS hash', allowSha1);
  if (mgfHash !== hashName) throw unsupported('RSASSA-PSS with an MGF1 hash different from the message hash');
  if (saltLength > 1024) throw unsupported('RSASSA-PSS salt length out of range');
  return { hash, saltLength };
}

/**
 * Resolves a signature AlgorithmIdentifier. `digest` is the SignerInfo's digestAlgorithm (CMS) — used for bare key
 * algorithm OIDs (rsaEncryption, id-ecPublicKey) and must agree with a hash named by the signature algorithm.
 */
export function signatureScheme(alg: AlgorithmIdentifier, allowSha1: boolean, digest?: DigestName): SignatureScheme {
  const what = `signature algorithm ${alg.oid}`;
  const agree = (h: DigestName): DigestName => {
    if (digest && h !== digest) throw unsupported(`${what} uses ${h} but the digest algorithm is ${digest}`);
    return h;
  };
  if (alg.oid === OID.rsaEncryption || alg.oid === OID.ecPublicKey) {
    if (!digest) throw unsupported(`${what} needs a digest algorithm`);
    return alg.oid === OID.rsaEncryption
      ? { kind: 'rsa', hash: digest, name: `RSA PKCS#1 v1.5 with ${digest}` }
      : { kind: 'ecdsa', hash: digest, name: `ECDSA with ${digest}` };
  }
  if (alg.oid in RSA_PKCS1) {
    const h = agree(acceptHash(RSA_PKCS1[alg.oid], what, allowSha1));
    return { kind: 'rsa', hash: h, name: `RSA PKCS#1 v1.5 with ${h}` };
  }
  if (alg.oid in ECDSA) {
    const h = agree(acceptHash(ECDSA[alg.oid], what, allowSha1));
    return { kind: 'ecdsa', hash: h, name: `ECDSA with ${h}` };
  }
  if (alg.oid === OID.rsassaPss) {
    const { hash, saltLength } = pssParams(alg, allowSha1);
    agree(hash);
    return { kind: 'rsa-pss', hash, saltLength, name: `RSASSA-PSS with ${hash}, salt ${saltLength}` };
  }
  if (alg.oid === OID.ed25519 || alg.oid === OID.ed448) {
    if (digest && digest !== 'sha512' && alg.oid === OID.ed25519) throw unsupported('Ed25519 in CMS requires SHA-512');
    return { kind: 'eddsa', hash: null, name: alg.oid === OID.ed25519 ? 'Ed25519' : 'Ed448' };
  }
  throw unsupported(`${what} not supported`);
}

/** Checks that a public key fits the scheme and is strong enough. */
export function checkKey(key: crypto.KeyObject, scheme: SignatureScheme, what: string): void {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  switch (scheme.kind) {
    case 'rsa':
    case 'rsa-pss':
      if (type !== 'rsa' && !(type === 'rsa-pss' && scheme.kind === 'rsa-pss')) {
        throw unsupported(`${what}: ${scheme.name} with a ${type} key`);
      }
      if ((details.modulusLength ?? 0) < MIN_RSA_BITS) {
        throw unsupported(`${what}: RSA key of ${details.modulusLength} bits (minimum ${MIN_RSA_BITS})`);
      }
      return;
    case 'ecdsa':
      if (type !== 'ec') throw unsupported(`${what}: ECDSA with a ${type} key`);
      if (!ALLOWED_CURVES.has(details.namedCurve ?? '')) throw unsupported(`${what}: curve ${details.namedCurve} not supported`);
      return;
    case 'eddsa':
      if (type !== (scheme.name === 'Ed25519' ? 'ed25519' : 'ed448')) throw unsupported(`${what}: ${scheme.name} with a ${type} key`);
      return;
  }
}

function verifyOptions(scheme: SignatureScheme, key: crypto.KeyObject): crypto.VerifyKeyObjectInput | crypto.KeyObject {
  switch (scheme.kind) {
    case 'rsa':
      return { key, padding: crypto.constants.RSA_PKCS1_PADDING };
    case 'rsa-pss':
      return { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength };
    case 'ecdsa':
      return { key, dsaEncoding: 'der' };
    case 'eddsa':
      return key;
  }
}

export function verifySync(scheme: SignatureScheme, key: crypto.KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return crypto.verify(scheme.hash, data, verifyOptions(scheme, key), signature);
  } catch {
    return false;
  }
}

/** Same as verifySync but on libuv's thread pool, so big batches do not block the event loop. */
export function verifyAsync(scheme: SignatureScheme, key: crypto.KeyObject, data: Buffer, signature: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      crypto.verify(scheme.hash, data, verifyOptions(scheme, key), signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}

export function digest(name: DigestName, data: Buffer): Buffer {
  return crypto.createHash(name).update(data).digest();
}
