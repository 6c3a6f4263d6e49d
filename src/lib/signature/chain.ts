/**
 * Certification path building and validation (RFC 5280 subset, in the order OpenSSL reports problems):
 * 1. build a path from the signer certificate through the SignedData's certificates to a trust anchor, verifying each
 *    certificate's signature with its issuer's key (several candidates are tried; the work is bounded);
 * 2. issuers must be CAs (basicConstraints cA, keyCertSign when keyUsage is present, pathLenConstraint), no unknown
 *    critical extensions, the signer's keyUsage (when present) must allow digitalSignature or nonRepudiation;
 * 3. revocation against the configured CRLs whose signature verifies with the issuer's key;
 * 4. every certificate valid at the validation time.
 */
import { checkKey, signatureScheme, verifySync } from './algorithms.js';
import {
  hasKeyUsage,
  isSelfIssued,
  KeyUsage,
  publicKey,
  type Certificate,
  type RevocationList,
} from './certificate.js';
import { VerificationFailure } from './errors.js';
import { namesEqual } from './name.js';
import { anchorKey, type TrustStore } from './trust-store.js';

const MAX_PATH_LENGTH = 10;
const MAX_SIGNATURE_CHECKS = 64;

interface Search {
  checks: number;
  /** the most telling reason a path could not be completed */
  failure?: VerificationFailure;
}

function isAnchor(trust: TrustStore, cert: Certificate): boolean {
  return trust.anchorFingerprints.has(cert.fingerprint) || trust.anchorKeys.has(anchorKey(cert));
}

function noteFailure(search: Search, f: VerificationFailure): void {
  // an unsupported algorithm explains more than "not trusted"
  if (!search.failure || (f.code === 'unsupported_algorithm' && search.failure.code !== 'unsupported_algorithm')) {
    search.failure = f;
  }
}

/**
 * Certificate signatures already verified (child fingerprint + issuer fingerprint + SHA-1 policy), least recently used
 * first out: the same intermediates and signer certificates arrive with every SignedData.
 */
const verifiedPairs = new Map<string, true>();
const VERIFIED_PAIRS_SIZE = 1024;

export function clearChainCache(): void {
  verifiedPairs.clear();
}

/** Does `issuer`'s key verify `cert`'s signature? Records why not. */
function signedBy(cert: Certificate, issuer: Certificate, allowSha1: boolean, search: Search): boolean {
  const pair = `${cert.fingerprint}:${issuer.fingerprint}:${allowSha1 ? 1 : 0}`;
  if (verifiedPairs.has(pair)) {
    verifiedPairs.delete(pair);
    verifiedPairs.set(pair, true);
    return true;
  }
  if (++search.checks > MAX_SIGNATURE_CHECKS) {
    noteFailure(search, new VerificationFailure('untrusted_signer', 'certification path search exceeded its budget'));
    return false;
  }
  try {
    const scheme = signatureScheme(cert.signatureAlgorithm, allowSha1);
    const key = publicKey(issuer);
    checkKey(key, scheme, 'issuer certificate key');
    if (verifySync(scheme, key, cert.tbs, cert.signature)) {
      if (verifiedPairs.size >= VERIFIED_PAIRS_SIZE) verifiedPairs.delete(verifiedPairs.keys().next().value!);
      verifiedPairs.set(pair, true);
      return true;
    }
    noteFailure(search, new VerificationFailure('untrusted_signer', 'a certificate signature in the chain is invalid'));
  } catch (err) {
    if (err instanceof VerificationFailure) noteFailure(search, err);
    else noteFailure(search, new VerificationFailure('unsupported_algorithm', 'issuer public key not supported'));
  }
  return false;
}

function keyIdsCompatible(cert: Certificate, issuer: Certificate): boolean {
  const aki = cert.extensions.authorityKeyIdentifier;
  const ski = issuer.extensions.subjectKeyIdentifier;
  return !aki || !ski || aki.equals(ski);
}

function build(
  cert: Certificate,
  path: Certificate[],
  pool: readonly Certificate[],
  trust: TrustStore,
  allowSha1: boolean,
  search: Search,
): Certificate[] | undefined {
  const here = [...path, cert];
  if (isAnchor(trust, cert)) return here;
  if (here.length >= MAX_PATH_LENGTH) {
    noteFailure(search, new VerificationFailure('untrusted_signer', 'certification path too long'));
    return undefined;
  }
  const matches = (c: Certificate) =>
    namesEqual(c.subject, cert.issuer) && keyIdsCompatible(cert, c) && !here.some((h) => h.fingerprint === c.fingerprint);
  // trust anchors first: the shortest path to something trusted
  for (const anchor of trust.anchors) {
    if (matches(anchor) && signedBy(cert, anchor, allowSha1, search)) return [...here, anchor];
  }
  for (const candidate of pool) {
    if (!matches(candidate)) continue;
    if (isSelfIssued(candidate) && !isAnchor(trust, candidate)) {
      noteFailure(search, new VerificationFailure('untrusted_signer', 'the chain ends at a self-signed certificate that is not a trust anchor'));
      continue;
    }
    if (!signedBy(cert, candidate, allowSha1, search)) continue;
    const found = build(candidate, here, pool, trust, allowSha1, search);
    if (found) return found;
  }
  if (isSelfIssued(cert)) {
    noteFailure(search, new VerificationFailure('untrusted_signer', 'the chain ends at a self-signed certificate that is not a trust anchor'));
  }
  noteFailure(search, new VerificationFailure('untrusted_signer', 'no certification path to a trust anchor'));
  return undefined;
}

/** Cache of CRL signature checks: CRL → issuer fingerprint → verified. */
const crlChecks = new WeakMap<RevocationList, Map<string, boolean>>();

function crlSignedBy(crl: RevocationList, issuer: Certificate, allowSha1: boolean): boolean {
  let m = crlChecks.get(crl);
  if (!m) crlChecks.set(crl, (m = new Map()));
  const key = `${issuer.fingerprint}:${allowSha1}`;
  let ok = m.get(key);
  if (ok === undefined) {
    try {
      const scheme = signatureScheme(crl.signatureAlgorithm, allowSha1);
      const k = publicKey(issuer);
      checkKey(k, scheme, 'CRL issuer key');
      ok =
        (issuer.extensions.keyUsage === undefined || hasKeyUsage(issuer.extensions.keyUsage, KeyUsage.cRLSign)) &&
        verifySync(scheme, k, crl.tbs, crl.signature);
    } catch {
      ok = false;
    }
    if (m.size > 256) m.clear();
    m.set(key, ok);
  }
  return ok;
}

interface ValidatedPath {
  /** signer first, trust anchor last */
  path: Certificate[];
}

/**
 * Validates the signer certificate at `at`. Throws VerificationFailure with untrusted_signer, unsupported_algorithm,
 * certificate_revoked or certificate_expired.
 */
export function validatePath(
  signer: Certificate,
  pool: readonly Certificate[],
  trust: TrustStore,
  at: Date,
  allowSha1: boolean,
): ValidatedPath {
  if (trust.anchors.length === 0) {
    throw new VerificationFailure('untrusted_signer', 'no trust anchors are configured (SIGNATURE_TRUST_ANCHORS)');
  }
  const search: Search = { checks: 0 };
  const path = build(signer, [], pool, trust, allowSha1, search);
  if (!path) throw search.failure ?? new VerificationFailure('untrusted_signer', 'no certification path to a trust anchor');

  // structure: CA flags, key usage, path length, critical extensions
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    const role = i === 0 ? 'signer certificate' : i === path.length - 1 ? 'trust anchor' : `intermediate certificate ${i}`;
    if (c.extensions.unhandledCritical.length > 0) {
      throw new VerificationFailure('untrusted_signer', `${role} has an unsupported critical extension ${c.extensions.unhandledCritical[0]}`);
    }
    if (i === 0) continue;
    const bc = c.extensions.basicConstraints;
    const anchor = i === path.length - 1;
    if (!(bc?.ca || (anchor && bc === undefined))) {
      throw new VerificationFailure('untrusted_signer', `${role} is not a CA certificate`);
    }
    const ku = c.extensions.keyUsage;
    if (ku !== undefined && !hasKeyUsage(ku, KeyUsage.keyCertSign)) {
      throw new VerificationFailure('untrusted_signer', `${role} key usage does not allow certificate signing`);
    }
    if (bc?.pathLen !== undefined) {
      const below = path.slice(1, i).filter((x) => !isSelfIssued(x)).length;
      if (below > bc.pathLen) throw new VerificationFailure('untrusted_signer', `${role} path length constraint exceeded`);
    }
  }
  const ku = signer.extensions.keyUsage;
  if (ku !== undefined && !hasKeyUsage(ku, KeyUsage.digitalSignature) && !hasKeyUsage(ku, KeyUsage.nonRepudiation)) {
    throw new VerificationFailure('untrusted_signer', 'signer certificate key usage does not allow digital signatures');
  }

  // revocation (every certificate below the anchor whose issuer publishes a configured CRL)
  if (trust.crls.length > 0) {
    for (let i = 0; i < path.length - 1; i++) {
      const c = path[i];
      for (const crl of trust.crls) {
        if (crl.delta || !namesEqual(crl.issuer, c.issuer)) continue;
        if (!crl.revoked.has(c.serialNumber)) continue;
        if (!crlSignedBy(crl, path[i + 1], allowSha1)) continue;
        const role = i === 0 ? 'signer certificate' : `intermediate certificate ${i}`;
        throw new VerificationFailure('certificate_revoked', `${role} was revoked on ${crl.revoked.get(c.serialNumber)!.toISOString()}`);
      }
    }
  }

  // validity periods
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    const role = i === 0 ? 'signer certificate' : i === path.length - 1 ? 'trust anchor' : `intermediate certificate ${i}`;
    if (at < c.notBefore) {
      throw new VerificationFailure('certificate_expired', `${role} is not valid before ${c.notBefore.toISOString()} (checked at ${at.toISOString()})`);
    }
    if (at > c.notAfter) {
      throw new VerificationFailure('certificate_expired', `${role} expired on ${c.notAfter.toISOString()} (checked at ${at.toISOString()})`);
    }
  }
  return { path };
}
