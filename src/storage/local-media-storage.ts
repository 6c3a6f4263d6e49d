/**
 * Media storage on the local filesystem (default: `<DATA_DIR>/media`).
 *
 *   blobs/<aa>/<sha256>        content-addressed bytes (one copy per distinct content)
 *   keys/<hh>/<sha256(key)>.json  the key index: {key, sha256, size, content_type, stored_at}
 *   tmp/                       files being written
 *
 * Every file is written to tmp/, fsync'd, renamed into place (atomic on POSIX) and its directory fsync'd, so after
 * `put` resolves the data survives a crash, and a crash during `put` never leaves a partial blob or index entry
 * behind (at worst an orphan temp file, removed at the next start). The blob is durable before the index points to
 * it. `get` re-hashes what it reads and refuses bytes that no longer match.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  MediaIntegrityError,
  validateContentType,
  validateMediaKey,
  type MediaObject,
  type MediaStorage,
  type StoredMedia,
} from './media-storage.js';

interface IndexEntry {
  key: string;
  sha256: string;
  size: number;
  content_type: string;
  stored_at: string;
}

const sha256Hex = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

export class LocalMediaStorage implements MediaStorage {
  private readonly blobsDir: string;
  private readonly keysDir: string;
  private readonly tmpDir: string;
  private ready: Promise<void> | undefined;

  constructor(readonly rootDir: string) {
    this.blobsDir = path.join(rootDir, 'blobs');
    this.keysDir = path.join(rootDir, 'keys');
    this.tmpDir = path.join(rootDir, 'tmp');
  }

  /** Creates the directories and removes temp files left by a crash (idempotent; called lazily). */
  init(): Promise<void> {
    this.ready ??= (async () => {
      for (const dir of [this.blobsDir, this.keysDir, this.tmpDir]) await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      const cutoff = Date.now() - 60 * 60 * 1000;
      for (const name of await fs.readdir(this.tmpDir)) {
        const p = path.join(this.tmpDir, name);
        const st = await fs.stat(p).catch(() => undefined);
        if (st && st.mtimeMs < cutoff) await fs.rm(p, { force: true });
      }
    })().catch((err) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<StoredMedia> {
    validateMediaKey(key);
    validateContentType(contentType);
    await this.init();
    const sha256 = sha256Hex(bytes);
    const blobPath = this.blobPath(sha256);
    if (!(await this.blobIntact(blobPath, bytes.length))) {
      await this.writeDurably(blobPath, bytes);
    }
    const indexPath = this.indexPath(key);
    const existing = await this.readIndex(indexPath);
    if (!existing || existing.sha256 !== sha256 || existing.content_type !== contentType || existing.key !== key) {
      const entry: IndexEntry = { key, sha256, size: bytes.length, content_type: contentType, stored_at: new Date().toISOString() };
      await this.writeDurably(indexPath, Buffer.from(JSON.stringify(entry)));
    }
    return { key, sha256, size: bytes.length };
  }

  async get(key: string): Promise<MediaObject | undefined> {
    validateMediaKey(key);
    await this.init();
    const entry = await this.readIndex(this.indexPath(key));
    if (!entry || entry.key !== key) return undefined;
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(this.blobPath(entry.sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new MediaIntegrityError(`Blob of media key is missing`);
      throw err;
    }
    if (sha256Hex(bytes) !== entry.sha256) throw new MediaIntegrityError('Stored media bytes do not match their hash');
    return { bytes, contentType: entry.content_type, sha256: entry.sha256 };
  }

  private blobPath(sha256: string): string {
    return path.join(this.blobsDir, sha256.slice(0, 2), sha256);
  }

  private indexPath(key: string): string {
    const h = sha256Hex(key);
    return path.join(this.keysDir, h.slice(0, 2), `${h}.json`);
  }

  /** True when a blob of the expected size is already in place (content-addressed: same name = same bytes). */
  private async blobIntact(blobPath: string, size: number): Promise<boolean> {
    const st = await fs.stat(blobPath).catch(() => undefined);
    return !!st && st.isFile() && st.size === size;
  }

  private async readIndex(indexPath: string): Promise<IndexEntry | undefined> {
    try {
      return JSON.parse(await fs.readFile(indexPath, 'utf8')) as IndexEntry;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** temp file → write → fsync → rename → fsync of the target directory. */
  private async writeDurably(target: string, bytes: Uint8Array): Promise<void> {
    const dir = path.dirname(target);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(this.tmpDir, `${randomUUID()}.tmp`);
    const fh = await fs.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await fs.rename(tmp, target);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await fsyncDir(dir);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Some filesystems refuse fsync on directories (EINVAL/EISDIR/EPERM); the rename is still atomic there.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw err;
  } finally {
    await fh?.close();
  }
}
