import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { resolveDatabase, type EmbeddedDatabase } from '../../src/platform/devdb/devdb.js';
import { findFerretDb, findOnPath } from '../../src/platform/devdb/ferretdb-binary.js';
import { freePort } from '../../src/platform/devdb/free-port.js';
import { startTestEngine, tmpDir, type TestEngine } from '../support/harness.js';

async function readyStatus(url: string): Promise<number> {
  return (await fetch(`${url}/readyz`)).status;
}

async function eventually(fn: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

describe('readiness follows the database', function () {
  this.timeout(90_000);
  let db: EmbeddedDatabase | undefined;
  let e: TestEngine | undefined;

  before(function () {
    // This test stops and restarts a database server of its own: it needs a local mongod or FerretDB binary.
    if (!findOnPath('mongod') && !findFerretDb()) this.skip();
  });
  after(async () => {
    await e?.stop().catch(() => {});
    await db?.stop();
  });

  it('flips to 503 when the database stops and back to 200 when it returns', async () => {
    const dir = path.join(tmpDir(), 'readiness-db');
    fs.mkdirSync(dir, { recursive: true });
    const port = await freePort();
    db = await resolveDatabase({ dataDir: dir, port });
    e = await startTestEngine({ mongodbUri: db.uri });
    expect(await readyStatus(e.url)).to.equal(200);

    await db.stop();
    expect(await eventually(async () => (await readyStatus(e!.url)) === 503, 10_000), 'readyz 503 after stop').to.equal(true);
    expect((await fetch(`${e.url}/healthz`)).status).to.equal(200); // the process itself is still up

    db = await resolveDatabase({ dataDir: dir, port });
    expect(await eventually(async () => (await readyStatus(e!.url)) === 200, 20_000), 'readyz 200 after restart').to.equal(true);
  });
});
