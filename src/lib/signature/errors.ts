/** Stable verdict codes and the internal exception used to short-circuit a verification into a verdict. */

export type SignatureErrorCode =
  | 'malformed'
  | 'unsupported_algorithm'
  | 'digest_mismatch'
  | 'bad_signature'
  | 'untrusted_signer'
  | 'certificate_expired'
  | 'certificate_revoked'
  | 'no_signer';

/** Thrown inside the verifier only; `verifySignedData` turns it into `{ valid: false, code, message }`. */
export class VerificationFailure extends Error {
  constructor(
    public readonly code: SignatureErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'VerificationFailure';
  }
}

export function malformed(message: string): VerificationFailure {
  return new VerificationFailure('malformed', message);
}
