/**
 * Media storage: where signed originals (care plan activities) and generated documents (reports) are kept.
 *
 * The interface is what the rest of the engine uses (`ctx.media`); `LocalMediaStorage` is the default
 * implementation. An S3-compatible implementation can be added behind the same interface.
 */

export interface StoredMedia {
  key: string;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
  size: number;
}

export interface MediaObject {
  bytes: Buffer;
  contentType: string;
  sha256: string;
}

export interface MediaStorage {
  /**
   * Stores `bytes` under `key`. Idempotent: putting the same bytes under the same key again is a no-op that returns
   * the same answer; putting other bytes under an existing key replaces what the key points to.
   * Resolves only once the data is durable.
   */
  /** `opts.sha256`: the bytes' SHA-256 (hex) when the caller computed it already, e.g. off the event loop. */
  put(key: string, bytes: Uint8Array, contentType: string, opts?: { sha256?: string }): Promise<StoredMedia>;
  /** The bytes stored under `key`, or undefined. Throws MediaIntegrityError when the stored bytes no longer match. */
  get(key: string): Promise<MediaObject | undefined>;
  /**
   * Removes what `key` points to; the bytes themselves are erased once no other key points to them (retention of
   * personal data: after `delete` resolves, the content is no longer on disk unless another key holds the same
   * bytes). True when the key existed.
   */
  delete(key: string): Promise<boolean>;
}

export class MediaKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MediaKeyError';
  }
}

export class MediaIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MediaIntegrityError';
  }
}

/** Keys are 1-1024 printable characters without backslash; "/" separates levels (e.g. `<activity id>/create`). */
export function validateMediaKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 1024) {
    throw new MediaKeyError('Media key must be 1-1024 characters');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(key)) throw new MediaKeyError('Media key must not contain control characters or backslashes');
}

export function validateContentType(contentType: string): void {
  if (typeof contentType !== 'string' || !/^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;.*)?$/.test(contentType) || contentType.length > 200) {
    throw new MediaKeyError('Content type must be a MIME type such as application/pkcs7-mime');
  }
}
