/**
 * CMS / PKCS#7 signature verification. No HTTP here: callers pass the base64 `signed_data` and get a
 * verdict. See docs/signatures.md.
 */
export { verifySignedData, clearVerifierCaches, DEFAULT_MAX_INPUT_BYTES } from './verify.js';
export { createTrustStore, type TrustStore, type TrustStoreInput } from './trust-store.js';
export type { VerifyOptions, SignatureVerdict, SignerSummary, SignatureErrorCode } from './types.js';
