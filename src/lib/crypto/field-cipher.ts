/**
 * Field-level encryption at rest: AES-256-GCM with a random 96-bit IV per value, the key id stored with every
 * ciphertext (so keys can be rotated) and additional authenticated data (AAD) binding each ciphertext to the record
 * and field it belongs to (a ciphertext copied into another record or field does not decrypt).
 *
 * String values are stored as one compact, self-describing string:
 *
 *     enc1.<kid>.<iv>.<tag>.<ciphertext>        (base64url parts; kid is [A-Za-z0-9_-]{1,32})
 *
 * Plaintext is padded (ISO/IEC 7816-4) to a multiple of 32 bytes before encryption so the ciphertext length does not
 * reveal short values such as an outcome code. Binary values (report files) use a small envelope:
 *
 *     "HLE1" | kid length (1 byte) | kid | iv (12) | tag (16) | ciphertext
 *
 * The key id and format version are part of the AAD as well, so the header cannot be altered either.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Keyring } from './keyring.js';

const STRING_PREFIX = 'enc1';
const BINARY_MAGIC = Buffer.from('HLE1', 'ascii');
const IV_BYTES = 12;
const TAG_BYTES = 16;
const PAD_BLOCK = 32;
const KID_RE = /^[A-Za-z0-9_-]{1,32}$/;
const COMPACT_RE = /^enc1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/;

export class DecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecryptionError';
  }
}

/** The key id a compact ciphertext was encrypted with (without decrypting it). */
export function keyIdOf(value: string): string {
  const m = COMPACT_RE.exec(value);
  if (!m) throw new DecryptionError('Value is not an encrypted field');
  return m[1];
}

/** The key id of a binary envelope. */
export function keyIdOfBytes(envelope: Uint8Array): string {
  return parseEnvelope(Buffer.from(envelope)).kid;
}

function pad(data: Buffer): Buffer {
  const total = Math.ceil((data.length + 1) / PAD_BLOCK) * PAD_BLOCK;
  const out = Buffer.alloc(total);
  data.copy(out);
  out[data.length] = 0x80;
  return out;
}

function unpad(data: Buffer): Buffer {
  let i = data.length - 1;
  while (i >= 0 && data[i] === 0) i--;
  if (i < 0 || data[i] !== 0x80) throw new DecryptionError('Invalid padding');
  return data.subarray(0, i);
}

function aadFor(format: string, kid: string, context: string): Buffer {
  return Buffer.from(`${format}|${kid}|${context}`, 'utf8');
}

function seal(key: Buffer, plaintext: Buffer, aad: Buffer): { iv: Buffer; tag: Buffer; ct: Buffer } {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ct };
}

function open(key: Buffer, iv: Buffer, tag: Buffer, ct: Buffer, aad: Buffer): Buffer {
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new DecryptionError('Malformed ciphertext');
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    throw new DecryptionError('Ciphertext does not authenticate (wrong key, wrong record/field, or tampered)');
  }
}

function parseEnvelope(buf: Buffer): { kid: string; iv: Buffer; tag: Buffer; ct: Buffer } {
  if (buf.length < BINARY_MAGIC.length + 1 || !buf.subarray(0, BINARY_MAGIC.length).equals(BINARY_MAGIC)) {
    throw new DecryptionError('Not an encrypted envelope');
  }
  let p = BINARY_MAGIC.length;
  const kidLen = buf[p++];
  const kid = buf.subarray(p, p + kidLen).toString('ascii');
  p += kidLen;
  if (!KID_RE.test(kid) || buf.length < p + IV_BYTES + TAG_BYTES) throw new DecryptionError('Malformed envelope');
  const iv = buf.subarray(p, p + IV_BYTES);
  p += IV_BYTES;
  const tag = buf.subarray(p, p + TAG_BYTES);
  p += TAG_BYTES;
  return { kid, iv, tag, ct: buf.subarray(p) };
}

export class FieldCipher {
  constructor(private readonly keyring: Keyring) {}

  /** The key id new ciphertexts are written with. */
  get activeKeyId(): string {
    return this.keyring.active().kid;
  }

  /** Encrypts a string bound to `context` (e.g. `consultation:<id>:result.icpc2`) with the active key. */
  encryptString(plaintext: string, context: string): string {
    const { kid, key } = this.keyring.active();
    const { iv, tag, ct } = seal(key, pad(Buffer.from(plaintext, 'utf8')), aadFor(STRING_PREFIX, kid, context));
    return [STRING_PREFIX, kid, iv.toString('base64url'), tag.toString('base64url'), ct.toString('base64url')].join('.');
  }

  decryptString(value: string, context: string): string {
    const m = COMPACT_RE.exec(value);
    if (!m) throw new DecryptionError('Value is not an encrypted field');
    const [, kid, iv, tag, ct] = m;
    const key = this.keyring.get(kid);
    if (!key) throw new DecryptionError(`Encryption key "${kid}" is not configured`);
    const plain = open(key, Buffer.from(iv, 'base64url'), Buffer.from(tag, 'base64url'), Buffer.from(ct, 'base64url'), aadFor(STRING_PREFIX, kid, context));
    return unpad(plain).toString('utf8');
  }

  /** Re-encrypts with the active key when the value was written with another one (undefined when already current). */
  reencryptString(value: string, context: string): string | undefined {
    if (keyIdOf(value) === this.activeKeyId) return undefined;
    return this.encryptString(this.decryptString(value, context), context);
  }

  encryptBytes(plaintext: Uint8Array, context: string): Buffer {
    const { kid, key } = this.keyring.active();
    const { iv, tag, ct } = seal(key, Buffer.from(plaintext), aadFor('HLE1', kid, context));
    const kidBytes = Buffer.from(kid, 'ascii');
    return Buffer.concat([BINARY_MAGIC, Buffer.from([kidBytes.length]), kidBytes, iv, tag, ct]);
  }

  decryptBytes(envelope: Uint8Array, context: string): Buffer {
    const { kid, iv, tag, ct } = parseEnvelope(Buffer.from(envelope));
    const key = this.keyring.get(kid);
    if (!key) throw new DecryptionError(`Encryption key "${kid}" is not configured`);
    return open(key, iv, tag, ct, aadFor('HLE1', kid, context));
  }
}
