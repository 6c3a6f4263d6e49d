/**
 * Encrypting and decrypting consultation results. Each field is bound (AAD) to its consultation and field name:
 * `consultation:<id>:result.<field>`, so a ciphertext moved to another record or field does not decrypt.
 */
import type { FieldCipher } from '../lib/crypto/field-cipher.js';
import { RESULT_FIELDS, type ConsultationResult, type EncryptedResult, type ResultField } from './types.js';

function resultContext(consultationId: string, field: ResultField): string {
  return `consultation:${consultationId}:result.${field}`;
}

export function encryptResult(cipher: FieldCipher, consultationId: string, result: ConsultationResult, recordedAt: Date): EncryptedResult {
  const kid = cipher.activeKeyId;
  const fields = {} as Record<ResultField, string>;
  for (const f of RESULT_FIELDS) {
    fields[f] = cipher.encryptString(JSON.stringify(result[f] ?? null), resultContext(consultationId, f));
  }
  return { kid, fields, recorded_at: recordedAt };
}

export function decryptResult(cipher: FieldCipher, consultationId: string, enc: EncryptedResult): ConsultationResult {
  const out = {} as Record<ResultField, unknown>;
  for (const f of RESULT_FIELDS) {
    const v = enc.fields[f];
    out[f] = v === undefined ? null : JSON.parse(cipher.decryptString(v, resultContext(consultationId, f)));
  }
  return out as unknown as ConsultationResult;
}

/** The same result re-encrypted with the active key (every field, so `kid` stays uniform). */
export function reencryptResult(cipher: FieldCipher, consultationId: string, enc: EncryptedResult): EncryptedResult {
  const plain = decryptResult(cipher, consultationId, enc);
  return encryptResult(cipher, consultationId, plain, enc.recorded_at);
}
