/**
 * CMS / PKCS#7 signature verification (issue 5). No HTTP here: callers pass the base64 `signed_data` and get a
 * verdict. See README "Signature verification (CMS)".
 */
export { verifySignedData, clearVerifierCaches, DEFAULT_MAX_INPUT_BYTES } from './verify.js';
export { loadTrustStore, createTrustStore, type TrustStore, type TrustStoreInput } from './trust-store.js';
export type { VerifyOptions, SignatureVerdict, SignerSummary, SignatureErrorCode } from './types.js';
