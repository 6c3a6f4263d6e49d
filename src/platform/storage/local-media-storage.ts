/**
 * Media storage on the local filesystem (default: `<DATA_DIR>/media`).
 *
 *   blobs/<aa>/<sha256>        content-addressed bytes (one copy per distinct content)
 *   keys/<hh>/<sha256(key)>.json  the key index: {key, sha256, size, content_type, stored_at}
 *   refs/<aa>/<sha256>/<sha256(key)>  which keys point to a blob (empty marker files): a blob is erased when the last
 *                              key pointing to it is deleted or re-pointed
 *   tmp/                       files being written
 *
 * Every file is written to tmp/, fsync'd, renamed into place (atomic on POSIX) and its directory fsync'd, so after
 * `put` resolves the data survives a crash, and a crash during `put` never leaves a partial blob or index entry
 * behind (at worst an orphan temp file, removed at the next start). The blob is durable before the index points to
 * it. `get` re-hashes what it reads and refuses bytes that no longer match.
 *
 * Reference markers and blob erasure are serialised per blob within the process. Several engine processes sharing
 * one media directory could race a `put` of some content against the erasure of the same content under another key;
 * such deployments should use an object store (one object per key) behind the MediaStorage interface.
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
  private readonly refsDir: string;
  /** Per-blob queue: marker changes and erasure of one blob never interleave (within this process). */
  private readonly blobLocks = new Map<string, Promise<unknown>>();
  private ready: Promise<void> | undefined;

  constructor(readonly rootDir: string) {
    this.blobsDir = path.join(rootDir, 'blobs');
    this.keysDir = path.join(rootDir, 'keys');
    this.tmpDir = path.join(rootDir, 'tmp');
    this.refsDir = path.join(rootDir, 'refs');
  }

  /** Creates the directories and removes temp files left by a crash (idempotent; called lazily). */
  init(): Promise<void> {
    this.ready ??= (async () => {
      for (const dir of [this.blobsDir, this.keysDir, this.tmpDir, this.refsDir]) await fs.mkdir(dir, { recursive: true, mode: 0o700 });
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

  async put(key: string, bytes: Uint8Array, contentType: string, opts: { sha256?: string } = {}): Promise<StoredMedia> {
    validateMediaKey(key);
    validateContentType(contentType);
    await this.init();
    const sha256 = opts.sha256 ?? sha256Hex(bytes);
    const blobPath = this.blobPath(sha256);
    const keyHash = sha256Hex(key);
    // The marker goes first: from then on no erasure of this blob can happen until the key lets go of it.
    await this.withBlob(sha256, async () => {
      const ref = this.refPath(sha256, keyHash);
      if (!(await fs.stat(ref).catch(() => undefined))) await this.writeDurably(ref, Buffer.alloc(0)); // a repeated put has it
      if (!(await this.blobIntact(blobPath, bytes.length))) await this.writeDurably(blobPath, bytes);
    });
    const indexPath = this.indexPath(key);
    const existing = await this.readIndex(indexPath);
    if (!existing || existing.sha256 !== sha256 || existing.content_type !== contentType || existing.key !== key) {
      const entry: IndexEntry = { key, sha256, size: bytes.length, content_type: contentType, stored_at: new Date().toISOString() };
      await this.writeDurably(indexPath, Buffer.from(JSON.stringify(entry)));
    }
    // The key pointed to other bytes before: let go of them (erased when nothing else points there).
    if (existing && existing.key === key && existing.sha256 !== sha256) await this.release(existing.sha256, keyHash);
    return { key, sha256, size: bytes.length };
  }

  async delete(key: string): Promise<boolean> {
    validateMediaKey(key);
    await this.init();
    const indexPath = this.indexPath(key);
    const entry = await this.readIndex(indexPath);
    if (!entry || entry.key !== key) return false;
    await fs.rm(indexPath, { force: true });
    await fsyncDir(path.dirname(indexPath));
    await this.release(entry.sha256, sha256Hex(key));
    return true;
  }

  /** Removes a key's marker from a blob and erases the blob when no marker is left. */
  private async release(sha256: string, keyHash: string): Promise<void> {
    await this.withBlob(sha256, async () => {
      const refs = this.refDir(sha256);
      await fs.rm(path.join(refs, keyHash), { force: true });
      const left = await fs.readdir(refs).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (left === undefined || left.length > 0) return; // other keys point here (or a blob from before markers)
      await fs.rm(this.blobPath(sha256), { force: true });
      await fs.rm(refs, { recursive: true, force: true });
      await fsyncDir(path.dirname(this.blobPath(sha256)));
    });
  }

  private withBlob<T>(sha256: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.blobLocks.get(sha256) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.blobLocks.set(sha256, tail);
    void tail.then(() => {
      if (this.blobLocks.get(sha256) === tail) this.blobLocks.delete(sha256);
    });
    return run;
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

  private refDir(sha256: string): string {
    return path.join(this.refsDir, sha256.slice(0, 2), sha256);
  }

  private refPath(sha256: string, keyHash: string): string {
    return path.join(this.refDir(sha256), keyHash);
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
