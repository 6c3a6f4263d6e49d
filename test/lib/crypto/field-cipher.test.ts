import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ConfigError, loadConfig, parseEncryptionKeys } from '../../../src/platform/config/config.js';
import { DecryptionError, FieldCipher, keyIdOf, keyIdOfBytes } from '../../../src/lib/crypto/field-cipher.js';
import { addLocalKey, Keyring, loadKeyring, localKeyPath } from '../../../src/lib/crypto/keyring.js';

const k1 = randomBytes(32);
const k2 = randomBytes(32);

describe('field encryption (AES-256-GCM)', () => {
  const cipher = new FieldCipher(new Keyring([{ kid: 'k1', key: k1 }], 'k1', 'config'));

  it('round-trips strings and stores the key id with the ciphertext', () => {
    const ct = cipher.encryptString('Brukket arm – æøå', 'consultation:c1:result.notes');
    expect(ct).to.match(/^enc1\.k1\./);
    expect(ct).not.to.contain('arm');
    expect(keyIdOf(ct)).to.equal('k1');
    expect(cipher.decryptString(ct, 'consultation:c1:result.notes')).to.equal('Brukket arm – æøå');
  });

  it('uses a fresh IV per value and pads so short values have the same length', () => {
    const a = cipher.encryptString('helped', 'x');
    const b = cipher.encryptString('helped', 'x');
    const c = cipher.encryptString('referred_specialist', 'x');
    expect(a).not.to.equal(b);
    expect(a.length).to.equal(c.length);
  });

  it('binds the ciphertext to its record and field (AAD)', () => {
    const ct = cipher.encryptString('R74', 'consultation:c1:result.icpc2');
    expect(() => cipher.decryptString(ct, 'consultation:c2:result.icpc2')).to.throw(DecryptionError, /does not authenticate/);
    expect(() => cipher.decryptString(ct, 'consultation:c1:result.notes')).to.throw(DecryptionError);
  });

  it('detects tampering with the key id or the ciphertext', () => {
    const ct = cipher.encryptString('R74', 'ctx');
    const parts = ct.split('.');
    const flipped = Buffer.from(parts[4], 'base64url');
    flipped[0] ^= 1;
    parts[4] = flipped.toString('base64url');
    expect(() => cipher.decryptString(parts.join('.'), 'ctx')).to.throw(DecryptionError);
    const both = new FieldCipher(new Keyring([{ kid: 'k1', key: k1 }, { kid: 'k2', key: k1 }], 'k1', 'config'));
    expect(() => both.decryptString(ct.replace('enc1.k1.', 'enc1.k2.'), 'ctx')).to.throw(DecryptionError);
  });

  it('fails clearly for an unknown key id', () => {
    const other = new FieldCipher(new Keyring([{ kid: 'k2', key: k2 }], 'k2', 'config'));
    expect(() => other.decryptString(cipher.encryptString('x', 'ctx'), 'ctx')).to.throw(/"k1" is not configured/);
  });

  it('re-encrypts with the active key, keeping old ciphertexts readable', () => {
    const old = cipher.encryptString('12345678901', 'ctx');
    const rotated = new FieldCipher(new Keyring([{ kid: 'k1', key: k1 }, { kid: 'k2', key: k2 }], 'k2', 'config'));
    expect(rotated.decryptString(old, 'ctx')).to.equal('12345678901');
    const fresh = rotated.reencryptString(old, 'ctx')!;
    expect(keyIdOf(fresh)).to.equal('k2');
    expect(rotated.decryptString(fresh, 'ctx')).to.equal('12345678901');
    expect(rotated.reencryptString(fresh, 'ctx')).to.equal(undefined);
  });

  it('encrypts binary payloads in an envelope', () => {
    const bytes = randomBytes(1000);
    const env = cipher.encryptBytes(bytes, 'report:r1');
    expect(keyIdOfBytes(env)).to.equal('k1');
    expect(cipher.decryptBytes(env, 'report:r1').equals(bytes)).to.equal(true);
    expect(() => cipher.decryptBytes(env, 'report:r2')).to.throw(DecryptionError);
  });
});

describe('encryption key configuration', () => {
  const b64 = (b: Buffer) => b.toString('base64');

  it('parses ENCRYPTION_KEYS and ENCRYPTION_ACTIVE_KEY_ID', () => {
    const enc = parseEncryptionKeys({ ENCRYPTION_KEYS: `old:${b64(k1)}, new:${k2.toString('base64url')}`, ENCRYPTION_ACTIVE_KEY_ID: 'new' });
    expect(enc.keys.map((k) => k.kid)).to.deep.equal(['old', 'new']);
    expect(enc.keys[1].key.equals(k2)).to.equal(true);
    expect(enc.activeKeyId).to.equal('new');
    expect(parseEncryptionKeys({ ENCRYPTION_KEYS: `only:${b64(k1)}` }).activeKeyId).to.equal('only');
    expect(parseEncryptionKeys({}).keys).to.have.length(0);
  });

  it('rejects keys that are not 32 bytes, duplicate ids, a missing or unknown active key id', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ ENCRYPTION_KEYS: `a:${b64(randomBytes(16))}` }, /ENCRYPTION_KEYS key "a" must decode to 32 bytes/],
      [{ ENCRYPTION_KEYS: `a:${b64(k1)},a:${b64(k2)}` }, /"a" appears twice/],
      [{ ENCRYPTION_KEYS: `a:${b64(k1)},b:${b64(k2)}` }, /ENCRYPTION_ACTIVE_KEY_ID is required/],
      [{ ENCRYPTION_KEYS: `a:${b64(k1)}`, ENCRYPTION_ACTIVE_KEY_ID: 'z' }, /"z" is not a key id/],
      [{ ENCRYPTION_KEYS: `${b64(k1)}` }, /entry 1 must be/],
      [{ ENCRYPTION_KEYS: `a:not base64!` }, /not base64/],
      [{ ENCRYPTION_ACTIVE_KEY_ID: 'a' }, /ENCRYPTION_KEYS is empty/],
    ];
    for (const [env, re] of bad) {
      expect(() => loadConfig(env), JSON.stringify(env)).to.throw(ConfigError, re);
    }
  });

  it('generates a local key file in the embedded default mode and can add a key to it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    try {
      const ring = loadKeyring({ dataDir: dir, encryption: { keys: [], activeKeyId: undefined } });
      expect(ring.mode).to.equal('local');
      expect(fs.statSync(localKeyPath(dir)).mode & 0o777).to.equal(0o600);
      const ct = new FieldCipher(ring).encryptString('x', 'ctx');
      // Same file next start: the ciphertext still decrypts.
      const again = new FieldCipher(loadKeyring({ dataDir: dir, encryption: { keys: [], activeKeyId: undefined } }));
      expect(again.decryptString(ct, 'ctx')).to.equal('x');
      const kid = addLocalKey(dir);
      // A running keyring picks the new key up when it meets it.
      ring.refresh();
      expect(ring.active().kid).to.equal(kid);
      expect(new FieldCipher(ring).decryptString(ct, 'ctx')).to.equal('x');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
