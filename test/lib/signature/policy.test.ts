/**
 * Policy decisions beyond the openssl comparison: SHA-1, validation time, detached/attached content, input encodings,
 * JSON content, trust store and configuration loading, and the engine wiring (ctx.signatureTrust).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../../src/platform/config/config.js';
import { extractTaxId, type Certificate } from '../../../src/lib/signature/certificate.js';
import { createTrustStore, verifySignedData, type TrustStore } from '../../../src/lib/signature/index.js';
import { loadTrustStore } from '../../../src/platform/signature-trust.js';
import { startEngine } from '../../../src/app/engine.js';
import { engine } from '../../support/harness.js';
import { CONTENT, corpus, openssl, type Corpus } from './corpus.js';

const YEAR = 365 * 24 * 3600_000;

describe('signature: policy', function () {
  this.timeout(60_000);
  let c: Corpus;
  let trust: TrustStore;

  before(async () => {
    c = await corpus();
    trust = createTrustStore({ anchors: c.rootPem, crls: [c.crlPem] });
  });

  const code = (v: Awaited<ReturnType<typeof verifySignedData>>) => (v.valid ? 'valid' : v.code);

  it('refuses SHA-1 unless allowed by the call or by the trust store (SIGNATURE_ALLOW_SHA1)', async () => {
    const sha1 = c.read('sha1.der');
    const refused = await verifySignedData(sha1, { trust });
    expect(code(refused)).to.equal('unsupported_algorithm');
    expect(refused.valid ? '' : refused.message).to.match(/SHA-1/);
    expect(code(await verifySignedData(sha1, { trust, allowSha1: true }))).to.equal('valid');
    const lenient = createTrustStore({ anchors: c.rootPem, allowSha1: true });
    expect(code(await verifySignedData(sha1, { trust: lenient }))).to.equal('valid');
    expect(code(await verifySignedData(sha1, { trust: lenient, allowSha1: false }))).to.equal('unsupported_algorithm');
  });

  it('checks certificates at the signing time; without one (or with validationTime "now") at the current time', async () => {
    const later = new Date(Date.now() + 2 * YEAR); // the signer certificate (1 year) has expired by then
    // signed attributes carry signingTime: the certificate was valid when it signed
    expect(code(await verifySignedData(c.read('rsa-attached.der'), { trust, now: later }))).to.equal('valid');
    expect(code(await verifySignedData(c.read('rsa-attached.der'), { trust, now: later, validationTime: 'now' }))).to.equal(
      'certificate_expired',
    );
    // no signed attributes: no signing time, so "now"
    expect(code(await verifySignedData(c.read('rsa-noattr.der'), { trust, now: later }))).to.equal('certificate_expired');
    // a signing time in the future of "now" is not believed: now is used
    const before = new Date(Date.now() - 2 * YEAR);
    const v = await verifySignedData(c.read('rsa-attached.der'), { trust, now: before });
    expect(code(v)).to.equal('certificate_expired');
    expect(v.valid ? '' : v.message).to.match(/not valid before/);
  });

  it('accepts DER, base64, base64url and PEM input', async () => {
    const der = c.read('ec-attached.der');
    const pem = `-----BEGIN CMS-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CMS-----\n`;
    for (const input of [der, new Uint8Array(der), der.toString('base64'), der.toString('base64url'), pem, Buffer.from(der.toString('base64'))]) {
      expect(code(await verifySignedData(input, { trust }))).to.equal('valid');
    }
  });

  it('detached signatures need their content; attached content must equal a detached copy when both are given', async () => {
    const missing = await verifySignedData(c.read('rsa-detached.der'), { trust });
    expect(code(missing)).to.equal('malformed');
    expect(missing.valid ? '' : missing.message).to.match(/content was not supplied/);
    const same = await verifySignedData(c.read('rsa-attached.der'), { trust, detachedContent: Buffer.from(CONTENT) });
    expect(code(same)).to.equal('valid');
    const other = await verifySignedData(c.read('rsa-attached.der'), { trust, detachedContent: Buffer.from(`${CONTENT} `) });
    expect(code(other)).to.equal('digest_mismatch');
  });

  it('parses JSON content; other content has no json field', async () => {
    const json = await verifySignedData(c.read('rsa-attached.der'), { trust });
    if (!json.valid) expect.fail(json.message);
    expect(json.json).to.deep.equal(JSON.parse(CONTENT));
    fs.writeFileSync(path.join(c.dir, 'plain.txt'), 'plain text, not JSON {');
    await openssl(['cms', '-sign', '-binary', '-in', 'plain.txt', '-signer', 'rsa.pem', '-inkey', 'rsa.key', '-certfile', 'inter.pem', '-nodetach', '-outform', 'DER', '-out', 'plain.der'], c.dir);
    const plain = await verifySignedData(c.read('plain.der'), { trust });
    if (!plain.valid) expect.fail(plain.message);
    expect(plain.content.toString()).to.equal('plain text, not JSON {');
    expect(plain).to.not.have.property('json');
  });

  it('without trust anchors every signature is untrusted', async () => {
    const v = await verifySignedData(c.read('rsa-attached.der'), { trust: createTrustStore({}) });
    expect(code(v)).to.equal('untrusted_signer');
    expect(v.valid ? '' : v.message).to.match(/no trust anchors/);
  });

  it('an intermediate in the trust anchors is enough (the root need not be configured)', async () => {
    const inter = fs.readFileSync(path.join(c.dir, 'inter.pem'), 'utf8');
    expect(code(await verifySignedData(c.read('ec-attached.der'), { trust: createTrustStore({ anchors: inter }) }))).to.equal('valid');
  });

  it('a CRL not signed by the issuer is ignored', async () => {
    // a CRL with the intermediate's name and the same revoked entry, signed by another key: must not revoke anything
    await openssl(['req', '-config', 'corpus.cnf', '-x509', '-new', '-key', 'rogue.key', '-subj', '/C=UA/O=Test eHealth/CN=Test Issuing CA', '-days', '30', '-extensions', 'v3_root', '-out', 'rogue-inter.pem'], c.dir);
    const cnf = fs
      .readFileSync(path.join(c.dir, 'corpus.cnf'), 'utf8')
      .replace(/^certificate = .*$/m, `certificate = ${c.dir}/rogue-inter.pem`)
      .replace(/^private_key = .*$/m, `private_key = ${c.dir}/rogue.key`);
    fs.writeFileSync(path.join(c.dir, 'rogue-ca.cnf'), cnf);
    await openssl(['ca', '-config', 'rogue-ca.cnf', '-gencrl', '-out', 'rogue-crl.pem'], c.dir);
    const rogueCrl = fs.readFileSync(path.join(c.dir, 'rogue-crl.pem'), 'utf8');
    const rogue = createTrustStore({ anchors: c.rootPem, crls: [rogueCrl] });
    expect(rogue.crls[0].revoked.size).to.equal(1);
    expect(code(await verifySignedData(c.read('revoked.der'), { trust: rogue }))).to.equal('valid');
    expect(code(await verifySignedData(c.read('revoked.der'), { trust }))).to.equal('certificate_revoked');
  });
});

describe('signature: tax id of the signer', () => {
  const cert = (serialNumbers: string[], drfo?: string) =>
    ({
      subject: { rdns: [[{ oid: '2.5.4.3', value: 'Name' }], ...serialNumbers.map((v) => [{ oid: '2.5.4.5', value: v }])] },
      extensions: { directoryAttributes: drfo ? [{ oid: '1.2.804.2.1.1.1.11.1.4.1.1', values: [drfo] }] : [] },
    }) as unknown as Certificate;

  it('reads ETSI semantics identifiers, bare values, and prefers the Ukrainian DRFO attribute', () => {
    expect(extractTaxId(cert(['TINUA-1234567890']))).to.deep.equal({ taxId: '1234567890', source: 'serialNumber' });
    expect(extractTaxId(cert(['PNOUA-9876543210']))).to.deep.equal({ taxId: '9876543210', source: 'serialNumber' });
    expect(extractTaxId(cert(['IDCUA-000123456']))).to.deep.equal({ taxId: '000123456', source: 'serialNumber' });
    expect(extractTaxId(cert([' 1234567890 ']))).to.deep.equal({ taxId: '1234567890', source: 'serialNumber' });
    expect(extractTaxId(cert(['TINUA-1234567890'], '3344556677'))).to.deep.equal({ taxId: '3344556677', source: 'drfo' });
    expect(extractTaxId(cert([]))).to.equal(undefined);
    expect(extractTaxId(cert(['#0403313233']))).to.equal(undefined); // a non-string value
  });
});

describe('signature: configuration and engine wiring', function () {
  this.timeout(60_000);
  let c: Corpus;
  before(async () => {
    c = await corpus();
  });

  it('validates SIGNATURE_* variables', () => {
    const base = { DATA_DIR: c.dir };
    expect(() => loadConfig({ ...base, SIGNATURE_TRUST_ANCHORS: path.join(c.dir, 'nope.pem') })).to.throw(ConfigError, /SIGNATURE_TRUST_ANCHORS names a file that does not exist/);
    expect(() => loadConfig({ ...base, SIGNATURE_CRL_FILES: `${path.join(c.dir, 'crl.pem')}, ${c.dir}` })).to.throw(ConfigError, /SIGNATURE_CRL_FILES must name a file/);
    expect(() => loadConfig({ ...base, SIGNATURE_ALLOW_SHA1: 'maybe' })).to.throw(ConfigError, /SIGNATURE_ALLOW_SHA1 must be true or false/);
    const cfg = loadConfig({
      ...base,
      SIGNATURE_TRUST_ANCHORS: path.join(c.dir, 'root.pem'),
      SIGNATURE_CRL_FILES: `${path.join(c.dir, 'crl.pem')},`,
      SIGNATURE_ALLOW_SHA1: 'true',
    });
    expect(cfg.signature).to.deep.equal({ trustAnchorsFile: path.join(c.dir, 'root.pem'), crlFiles: [path.join(c.dir, 'crl.pem')], allowSha1: true, reloadCheckMs: 5000 });
    expect(loadConfig(base).signature).to.deep.equal({ trustAnchorsFile: undefined, crlFiles: [], allowSha1: false, reloadCheckMs: 5000 });
  });

  it('loadTrustStore reads PEM bundles and PEM/DER CRLs, and refuses files without certificates', async () => {
    fs.writeFileSync(path.join(c.dir, 'bundle.pem'), `# comment\n${c.rootPem}\n${fs.readFileSync(path.join(c.dir, 'inter.pem'), 'utf8')}`);
    await openssl(['crl', '-in', 'crl.pem', '-outform', 'DER', '-out', 'crl.der'], c.dir);
    const store = loadTrustStore({
      signature: { trustAnchorsFile: path.join(c.dir, 'bundle.pem'), crlFiles: [path.join(c.dir, 'crl.pem'), path.join(c.dir, 'crl.der')], allowSha1: false },
    });
    expect(store.anchors).to.have.length(2);
    expect(store.crls).to.have.length(2);
    expect(store.crls[0].revoked.size).to.equal(1);
    expect(() => loadTrustStore({ signature: { trustAnchorsFile: path.join(c.dir, 'content.json'), crlFiles: [], allowSha1: false } })).to.throw(
      ConfigError,
      /SIGNATURE_TRUST_ANCHORS contains no PEM certificate/,
    );
    fs.writeFileSync(path.join(c.dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n');
    expect(() => loadTrustStore({ signature: { trustAnchorsFile: path.join(c.dir, 'broken.pem'), crlFiles: [], allowSha1: false } })).to.throw(
      ConfigError,
      /trust anchor #1 cannot be parsed/,
    );
    expect(() => loadTrustStore({ signature: { trustAnchorsFile: undefined, crlFiles: [path.join(c.dir, 'content.json')], allowSha1: false } })).to.throw(
      ConfigError,
      /SIGNATURE_CRL_FILES/,
    );
  });

  it('the shared engine has a trust store (empty by default): signatures are untrusted', async () => {
    const v = await verifySignedData(c.read('rsa-attached.der'), { trust: engine().ctx.signatureTrust });
    expect(v.valid ? 'valid' : v.code).to.equal('untrusted_signer');
  });

  it('the engine loads the trust store before anything else and refuses to start with a broken bundle', async () => {
    const good = loadConfig({ DATA_DIR: c.dir, SIGNATURE_TRUST_ANCHORS: path.join(c.dir, 'root.pem'), SIGNATURE_CRL_FILES: path.join(c.dir, 'crl.pem') });
    const store = loadTrustStore(good);
    const v = await verifySignedData(c.read('revoked.der').toString('base64'), { trust: store });
    expect(v.valid ? 'valid' : v.code).to.equal('certificate_revoked');
    fs.writeFileSync(path.join(c.dir, 'not-a-bundle.pem'), 'nothing here');
    const bad = loadConfig({ DATA_DIR: c.dir, MONGODB_URI: 'mongodb://127.0.0.1:1/', SIGNATURE_TRUST_ANCHORS: path.join(c.dir, 'not-a-bundle.pem') });
    let error: unknown;
    await startEngine(bad).catch((e) => (error = e));
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as Error).message).to.match(/SIGNATURE_TRUST_ANCHORS contains no PEM certificate/);
  });
});
