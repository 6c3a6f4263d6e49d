import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { LocalMediaStorage, MediaIntegrityError, MediaKeyError } from '../../src/platform/storage/index.js';
import { engine } from '../support/harness.js';

describe('media storage (local filesystem)', () => {
  let dir: string;
  let storage: LocalMediaStorage;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'media-test-'));
    storage = new LocalMediaStorage(dir);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('stores bytes under a key and returns them byte-equal with their hash and content type', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    const put = await storage.put('act-1/create', bytes, 'application/pkcs7-mime');
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(put).to.deep.equal({ key: 'act-1/create', sha256: sha, size: bytes.length });
    const got = await storage.get('act-1/create');
    expect(got?.bytes.equals(bytes)).to.equal(true);
    expect(got?.contentType).to.equal('application/pkcs7-mime');
    expect(got?.sha256).to.equal(sha);
  });

  it('is content-addressed: the same bytes under two keys are one blob, and re-putting is idempotent', async () => {
    const bytes = Buffer.from('same content');
    await storage.put('a/create', bytes, 'text/plain');
    await storage.put('b/create', bytes, 'text/plain');
    await storage.put('a/create', bytes, 'text/plain');
    const blobs = fs.readdirSync(path.join(dir, 'blobs'), { recursive: true }).filter((f) => /^[0-9a-f]{2}[\\/][0-9a-f]{64}$/.test(String(f)));
    expect(blobs).to.have.length(1);
    expect((await storage.get('b/create'))?.bytes.toString()).to.equal('same content');
    expect(fs.readdirSync(path.join(dir, 'tmp'))).to.deep.equal([]);
  });

  it('answers undefined for an unknown key and rejects bad keys', async () => {
    expect(await storage.get('nope/create')).to.equal(undefined);
    for (const bad of ['', 'a\u0000b', 'x'.repeat(1025), 'a\\b']) {
      let err: unknown;
      try {
        await storage.put(bad, Buffer.from('x'), 'text/plain');
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(MediaKeyError);
    }
  });

  it('refuses to return bytes that no longer match their hash', async () => {
    const put = await storage.put('k', Buffer.from('original'), 'text/plain');
    fs.writeFileSync(path.join(dir, 'blobs', put.sha256.slice(0, 2), put.sha256), 'tampered');
    let err: unknown;
    try {
      await storage.get('k');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(MediaIntegrityError);
  });

  it('is the engine context media storage, under <DATA_DIR>/media', async () => {
    const e = engine();
    const put = await e.ctx.media.put(`engine-test-${Date.now()}/create`, Buffer.from('x'), 'text/plain');
    expect(fs.existsSync(path.join(e.config.dataDir, 'media', 'blobs', put.sha256.slice(0, 2), put.sha256))).to.equal(true);
  });
});
