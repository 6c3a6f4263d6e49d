/** Public types of the signature module (docs/signatures.md describes what is verified and how). */
import type { SignatureErrorCode } from './errors.js';
import type { TrustStore } from './trust-store.js';

export interface VerifyOptions {
  trust: TrustStore;
  /** content of a detached signature (when the SignedData has no eContent) */
  detachedContent?: Uint8Array;
  /** accept SHA-1 digests/signatures; default: the trust store's setting (SIGNATURE_ALLOW_SHA1) */
  allowSha1?: boolean;
  /** the current time (tests); default new Date() */
  now?: Date;
  /**
   * When certificates must be valid: at the signer's signingTime attribute (default; falls back to now when the
   * attribute is absent or in the future) or always now (as `openssl cms -verify` does).
   */
  validationTime?: 'signing-time' | 'now';
  /** maximum decoded SignedData size in bytes (default 10 MiB) */
  maxInputBytes?: number;
}

export interface SignerSummary {
  /** e.g. "C=UA, O=Example, CN=Jane Doe, serialNumber=TINUA-1234567890" */
  subject: string;
  issuer: string;
  /** certificate serial number, upper-case hex */
  serialNumber: string;
  /** DRFO/RNOKPP/national id: subjectDirectoryAttributes DRFO, else the subject serialNumber (2.5.4.5) */
  taxId?: string;
  taxIdSource?: 'drfo' | 'serialNumber';
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the certificate DER, hex */
  fingerprintSha256: string;
}

export type SignatureVerdict =
  | {
      valid: true;
      content: Buffer;
      /** the content parsed as JSON when it is a JSON object or array */
      json?: unknown;
      signerCount: number;
      /** the first signer */
      signer: SignerSummary;
      /** all signers, in SignerInfo order */
      signers: SignerSummary[];
      signingTime?: Date;
      /** the first signer's certificate */
      certificatePem: string;
      /** eContentType OID (1.2.840.113549.1.7.1 for data) */
      contentType: string;
      /** digest and signature algorithm of the first signer, e.g. "sha256", "RSASSA-PSS with sha256, salt 32" */
      digestAlgorithm: string;
      signatureAlgorithm: string;
    }
  | {
      valid: false;
      code: SignatureErrorCode;
      message: string;
      /** Set when the failure was not a verification outcome but an error of the verifier itself (for the log). */
      unexpected?: string;
      signerCount?: number;
      signer?: SignerSummary;
      content?: Buffer;
    };

export type { SignatureErrorCode };
