/**
 * Trust anchors reloaded without a restart: the engine watches the SIGNATURE_TRUST_ANCHORS file; an activity signed
 * under a CA added to it afterwards is accepted, a bundle broken later leaves the last good anchors in force, and a CA
 * removed from it is no longer trusted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { tmpDir, type TestEngine } from '../support/harness.js';
import { testPki } from './pki.js';
import { newWorld, startCarePlanEngine, type World } from './support.js';

async function until(what: string, ok: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('care plan activities: trust anchors reloaded without a restart', function () {
  this.timeout(90_000);
  let e: TestEngine;
  let w: World;
  let anchorsFile: string;
  let rootPem: string;
  let roguePem: string;
  before(async () => {
    const pki = await testPki();
    rootPem = fs.readFileSync(pki.rootPem, 'utf8');
    roguePem = fs.readFileSync(path.join(pki.dir, 'rogue.pem'), 'utf8');
    anchorsFile = path.join(tmpDir(), `anchors-${Date.now()}.pem`);
    fs.writeFileSync(anchorsFile, rootPem);
    e = await startCarePlanEngine({ SIGNATURE_TRUST_ANCHORS: anchorsFile, SIGNATURE_TRUST_RELOAD_MS: '100' });
    w = await newWorld(e, { signer: 'untrusted' });
  });
  after(async () => e?.stop());

  it('accepts a signer of a CA appended to the anchors file, keeps the last good bundle when the file breaks, and drops a removed CA', async () => {
    const before = await w.run(w.activity());
    expect(before.job.body.data.status).to.equal('failed');
    expect(JSON.stringify(before.job.body.data.error)).to.match(/signed_data/);

    const initial = e.ctx.signatureTrust;
    fs.appendFileSync(anchorsFile, roguePem);
    await until('the appended CA', () => e.ctx.signatureTrust.anchors.length === 2);
    const after = await w.run(w.activity());
    expect(after.job.status, JSON.stringify(after.job.body)).to.equal(303);
    expect(after.job.body.data).to.include({ status: 'processed', status_code: 200 });
    expect(e.ctx.signatureTrust).to.not.equal(initial);

    // A broken certificate block: the reload fails and the two good anchors stay in force.
    const good = e.ctx.signatureTrust;
    fs.appendFileSync(anchorsFile, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    // Four check intervals later the store in use is still the good one.
    await new Promise((r) => setTimeout(r, 400));
    expect(e.ctx.signatureTrust).to.equal(good);
    const stillTrusted = await w.run(w.activity());
    expect(stillTrusted.job.body.data.status).to.equal('processed');

    fs.writeFileSync(anchorsFile, rootPem);
    await until('the CA removed', () => e.ctx.signatureTrust.anchors.length === 1);
    const removed = await w.run(w.activity());
    expect(removed.job.body.data.status).to.equal('failed');
  });
});
