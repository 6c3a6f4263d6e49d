/**
 * Trust anchors and CRLs: loaded at start-up from SIGNATURE_TRUST_ANCHORS (a PEM bundle) and SIGNATURE_CRL_FILES
 * (PEM or DER), kept in memory as `ctx.signatureTrust` and reloaded when the files change (src/platform/signature-trust.ts).
 */
import { parseCertificate, parseCrl, type Certificate, type RevocationList } from './certificate.js';
import { VerificationFailure } from './errors.js';

export interface TrustStore {
  readonly anchors: readonly Certificate[];
  readonly crls: readonly RevocationList[];
  /** default for VerifyOptions.allowSha1 (SIGNATURE_ALLOW_SHA1) */
  readonly allowSha1: boolean;
  /** things worth a warning at start-up (expired anchors, stale CRLs); no personal data */
  readonly warnings: readonly string[];
  /** @internal fingerprints of the anchors */
  readonly anchorFingerprints: ReadonlySet<string>;
  /** @internal subject + key of the anchors, so a re-encoded copy of an anchor is recognised too */
  readonly anchorKeys: ReadonlySet<string>;
}

export interface TrustStoreInput {
  /** PEM text (one or more CERTIFICATE blocks) or DER certificates */
  anchors?: string | Uint8Array | readonly (string | Uint8Array)[];
  /** PEM text (X509 CRL blocks) or DER CRLs */
  crls?: readonly (string | Uint8Array)[];
  allowSha1?: boolean;
  now?: Date;
}

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** DER blocks with the given PEM label, or the input itself when it is DER. */
export function pemBlocks(input: string | Uint8Array, label: string): Buffer[] {
  if (typeof input !== 'string') {
    const b = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    if (b[0] === 0x30) return [b];
    input = b.toString('latin1');
  }
  const out: Buffer[] = [];
  for (const m of input.matchAll(PEM_RE)) {
    if (m[1] !== label) continue;
    const body = m[2].replace(/^[A-Za-z-]+:.*$/gm, '').replace(/\s+/g, '');
    out.push(Buffer.from(body, 'base64'));
  }
  return out;
}

export function anchorKey(cert: Certificate): string {
  return `${cert.subject.canonical}\u0000${cert.spki.toString('base64')}`;
}

export function describe(err: unknown): string {
  return err instanceof VerificationFailure || err instanceof Error ? err.message : String(err);
}

/** Builds a trust store; throws an Error naming the bad item when something cannot be parsed. */
export function createTrustStore(input: TrustStoreInput = {}): TrustStore {
  const now = input.now ?? new Date();
  const anchors: Certificate[] = [];
  const warnings: string[] = [];
  const anchorInputs = input.anchors === undefined ? [] : Array.isArray(input.anchors) ? input.anchors : [input.anchors];
  for (const item of anchorInputs as (string | Uint8Array)[]) {
    for (const der of pemBlocks(item, 'CERTIFICATE')) {
      let cert: Certificate;
      try {
        cert = parseCertificate(der);
      } catch (err) {
        throw new Error(`trust anchor #${anchors.length + 1} cannot be parsed: ${describe(err)}`);
      }
      if (cert.notAfter < now) warnings.push(`trust anchor #${anchors.length + 1} expired on ${cert.notAfter.toISOString()}`);
      anchors.push(cert);
    }
  }
  const crls: RevocationList[] = [];
  for (const item of input.crls ?? []) {
    const blocks = pemBlocks(item, 'X509 CRL');
    if (blocks.length === 0) throw new Error(`CRL input #${crls.length + 1} contains no X509 CRL`);
    for (const der of blocks) {
      let crl: RevocationList;
      try {
        crl = parseCrl(der);
      } catch (err) {
        throw new Error(`CRL #${crls.length + 1} cannot be parsed: ${describe(err)}`);
      }
      if (crl.nextUpdate && crl.nextUpdate < now) {
        warnings.push(`CRL #${crls.length + 1} is past its nextUpdate (${crl.nextUpdate.toISOString()})`);
      }
      if (crl.delta) warnings.push(`CRL #${crls.length + 1} is a delta CRL and is ignored`);
      crls.push(crl);
    }
  }
  return {
    anchors,
    crls,
    allowSha1: input.allowSha1 ?? false,
    warnings,
    anchorFingerprints: new Set(anchors.map((a) => a.fingerprint)),
    anchorKeys: new Set(anchors.map(anchorKey)),
  };
}
