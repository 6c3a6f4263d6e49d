/**
 * For every item of the openssl-generated corpus, the verdict of verifySignedData (valid or not) equals what
 * `openssl cms -verify` says about the same bytes, and the error code is the expected one.
 */
import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createTrustStore, verifySignedData, type TrustStore } from '../../../src/lib/signature/index.js';
import { CONTENT, corpus, ITEMS, opensslVerifies, type Corpus } from './corpus.js';

describe('signature: agreement with openssl cms -verify', function () {
  this.timeout(60_000);
  let c: Corpus;
  let withCrl: TrustStore;
  let withoutCrl: TrustStore;

  before(async () => {
    c = await corpus();
    withCrl = createTrustStore({ anchors: c.rootPem, crls: [c.crlPem] });
    withoutCrl = createTrustStore({ anchors: c.rootPem });
  });

  for (const item of ITEMS) {
    it(`${item.name}: ${item.expected}`, async () => {
      const ossl = await opensslVerifies(c.dir, item.file, { content: item.content, crl: item.crl, purpose: item.purpose });
      const verdict = await verifySignedData(c.read(item.file), {
        trust: item.crl ? withCrl : withoutCrl,
        detachedContent: item.content ? c.read(item.content) : undefined,
        allowSha1: item.allowSha1,
      });
      const got = verdict.valid ? 'valid' : `${verdict.code} (${verdict.message})`;
      expect(verdict.valid, `ours: ${got}; openssl: ${ossl.ok ? 'verified' : ossl.stderr.trim()}`).to.equal(ossl.ok);
      expect(verdict.valid ? 'valid' : verdict.code, got).to.equal(item.expected);
      if (verdict.valid) {
        expect(verdict.content.toString('utf8')).to.equal(CONTENT);
        expect(verdict.json).to.deep.equal(JSON.parse(CONTENT));
        if (item.taxId) expect(verdict.signer.taxId).to.equal(item.taxId);
      }
    });
  }

  it('reports the signer the way openssl sees the certificate', async () => {
    const v = await verifySignedData(c.read('rsa-attached.der'), { trust: withCrl });
    if (!v.valid) expect.fail(v.message);
    const pem = fs.readFileSync(path.join(c.dir, 'rsa.pem'), 'utf8');
    const x = new crypto.X509Certificate(pem);
    expect(v.certificatePem.trim()).to.equal(x.toString().trim());
    expect(v.signer.serialNumber).to.equal(x.serialNumber.toUpperCase());
    expect(v.signer.subject).to.equal('C=UA, O=Clinic One, CN=Doctor RSA, serialNumber=TINUA-3012345678');
    expect(v.signer.issuer).to.equal('C=UA, O=Test eHealth, CN=Test Issuing CA');
    expect(v.signer).to.include({ taxId: '3012345678', taxIdSource: 'serialNumber' });
    expect(v.signer.notBefore.getTime()).to.equal(new Date(x.validFrom).getTime());
    expect(v.signer.notAfter.getTime()).to.equal(new Date(x.validTo).getTime());
    expect(v.signer.fingerprintSha256).to.equal(x.fingerprint256.replace(/:/g, '').toLowerCase());
    expect(v.signingTime).to.be.instanceOf(Date);
    expect(Math.abs(v.signingTime!.getTime() - Date.now())).to.be.below(10 * 60_000);
    expect(v).to.include({ signerCount: 1, contentType: '1.2.840.113549.1.7.1', digestAlgorithm: 'sha256' });
  });

  it('names the algorithms used (PSS parameters included)', async () => {
    const pss = await verifySignedData(c.read('pss-key-detached.der'), { trust: withCrl, detachedContent: c.read('content.json') });
    if (!pss.valid) expect.fail(pss.message);
    expect(pss.signatureAlgorithm).to.equal('RSASSA-PSS with sha384, salt 206');
    expect(pss.digestAlgorithm).to.equal('sha384');
    expect(pss.signer).to.include({ taxId: '1111111111', taxIdSource: 'serialNumber' });
    const ec = await verifySignedData(c.read('ec-attached.der'), { trust: withCrl });
    if (!ec.valid) expect.fail(ec.message);
    expect(ec.signatureAlgorithm).to.equal('ECDSA with sha256');
    expect(ec.signer).to.include({ taxId: '3344556677', taxIdSource: 'drfo' });
  });

  it('lists every signer of a multi-signer SignedData', async () => {
    const v = await verifySignedData(c.read('two-signers.der'), { trust: withCrl });
    if (!v.valid) expect.fail(v.message);
    expect(v.signerCount).to.equal(2);
    // SignerInfos are a DER SET OF: their order is the encoding's, not the command line's
    expect(v.signers.map((s) => s.subject).sort()).to.deep.equal([
      'C=UA, O=Clinic One, CN=Doctor RSA, serialNumber=TINUA-3012345678',
      'C=UA, O=Clinic Two, CN=Doctor EC',
    ]);
  });

  it('an invalid verdict still says who signed and what', async () => {
    const v = await verifySignedData(c.read('rsa-attached.content-flip.der'), { trust: withCrl });
    if (v.valid) expect.fail('tampered content accepted');
    expect(v.code).to.equal('digest_mismatch');
    expect(v.signerCount).to.equal(1);
    expect(v.signer?.subject).to.match(/CN=Doctor RSA/);
    expect(v.content?.toString('utf8')).to.contain('signed Care plan activity');
  });
});
