/**
 * Data-encryption keys for field encryption. Keys come from configuration (ENCRYPTION_KEYS +
 * ENCRYPTION_ACTIVE_KEY_ID), never from the database. In the embedded default mode (no keys configured) a local key
 * file is generated once in the data directory (`<DATA_DIR>/encryption/local-keys.json`, mode 0600), like the local
 * JWT signing key: fine for trying the engine, NOT for production (the key sits next to the data it protects).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

interface DataKey {
  kid: string;
  key: Buffer;
}

type KeySourceMode = 'config' | 'local';

const LOCAL_KEY_FILE = 'local-keys.json';

interface LocalKeyFile {
  activeKeyId: string;
  keys: { kid: string; key: string; createdAt: string }[];
}

export class Keyring {
  private keys = new Map<string, Buffer>();
  private activeKid: string;

  constructor(
    keys: DataKey[],
    activeKeyId: string,
    public readonly mode: KeySourceMode,
    /** Re-reads the key list (local mode: the file may have gained a key through `keys rotate --new-local-key`). */
    private readonly reload?: () => { keys: DataKey[]; activeKeyId: string },
  ) {
    this.activeKid = activeKeyId;
    for (const k of keys) this.keys.set(k.kid, k.key);
    if (!this.keys.has(activeKeyId)) throw new Error(`Active encryption key "${activeKeyId}" is not in the key list`);
  }

  active(): DataKey {
    return { kid: this.activeKid, key: this.keys.get(this.activeKid)! };
  }

  get(kid: string): Buffer | undefined {
    const found = this.keys.get(kid);
    if (found || !this.reload) return found;
    this.refresh();
    return this.keys.get(kid);
  }

  keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /** Local mode: picks up keys and the active key id written by another process. */
  refresh(): void {
    if (!this.reload) return;
    const next = this.reload();
    for (const k of next.keys) this.keys.set(k.kid, k.key);
    if (this.keys.has(next.activeKeyId)) this.activeKid = next.activeKeyId;
  }
}

/** The keys of the configuration (ENCRYPTION_KEYS, ENCRYPTION_ACTIVE_KEY_ID), or none, and the data directory. */
export interface KeySource {
  encryption: { keys: DataKey[]; activeKeyId: string | undefined };
  dataDir: string;
}

export function loadKeyring(config: KeySource): Keyring {
  if (config.encryption.keys.length > 0) {
    return new Keyring(config.encryption.keys, config.encryption.activeKeyId!, 'config');
  }
  const file = localKeyPath(config.dataDir);
  const initial = readOrCreateLocalKeys(file);
  return new Keyring(initial.keys, initial.activeKeyId, 'local', () => readLocalKeys(file));
}

export function localKeyPath(dataDir: string): string {
  return path.join(dataDir, 'encryption', LOCAL_KEY_FILE);
}

/** A new random key id: `k` + UTC date + random suffix, e.g. `k20240131-3fa9c2`. */
function newKeyId(now = new Date()): string {
  return `k${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
}

/** A new 32-byte key in the `kid:base64` form ENCRYPTION_KEYS expects. */
export function generateKeyLine(): { kid: string; line: string } {
  const kid = newKeyId();
  return { kid, line: `${kid}:${randomBytes(32).toString('base64')}` };
}

function parseLocal(file: string): { keys: DataKey[]; activeKeyId: string } {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as LocalKeyFile;
  const keys = raw.keys.map((k) => ({ kid: k.kid, key: Buffer.from(k.key, 'base64') }));
  for (const k of keys) {
    if (k.key.length !== 32) throw new Error(`Local encryption key "${k.kid}" in ${file} is not 32 bytes`);
  }
  return { keys, activeKeyId: raw.activeKeyId };
}

function readLocalKeys(file: string): { keys: DataKey[]; activeKeyId: string } {
  return parseLocal(file);
}

function readOrCreateLocalKeys(file: string): { keys: DataKey[]; activeKeyId: string } {
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const kid = newKeyId();
    const content: LocalKeyFile = {
      activeKeyId: kid,
      keys: [{ kid, key: randomBytes(32).toString('base64'), createdAt: new Date().toISOString() }],
    };
    try {
      fs.writeFileSync(file, JSON.stringify(content, null, 2), { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return parseLocal(file);
}

/**
 * Local mode only: adds a new random key to the local key file and makes it the active one (old keys stay, so
 * existing ciphertexts remain readable until re-encrypted). Written atomically (temp file + rename).
 */
export function addLocalKey(dataDir: string): string {
  const file = localKeyPath(dataDir);
  readOrCreateLocalKeys(file);
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as LocalKeyFile;
  const kid = newKeyId();
  raw.keys.push({ kid, key: randomBytes(32).toString('base64'), createdAt: new Date().toISOString() });
  raw.activeKeyId = kid;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(raw, null, 2), { mode: 0o600 });
  fs.renameSync(tmp, file);
  return kid;
}
