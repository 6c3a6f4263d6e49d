/**
 * Hostile and broken input: every case is a `malformed` verdict (never a throw, never a hang). The suite runs with a
 * short mocha timeout so that a hang fails it.
 */
import { expect } from 'chai';
import crypto from 'node:crypto';
import { scanDer } from '../../../src/lib/signature/der-scan.js';
import { createTrustStore, verifySignedData, type TrustStore } from '../../../src/lib/signature/index.js';
import { CONTENT, corpus } from './corpus.js';

function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  if (n < 128) return Buffer.concat([Buffer.from([tag, n]), body]);
  const len: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) len.unshift(x & 0xff);
  return Buffer.concat([Buffer.from([tag, 0x80 | len.length, ...len]), body]);
}

const SIGNED_DATA_OID = tlv(0x06, Buffer.from('2a864886f70d010702', 'hex'));

async function expectMalformed(trust: TrustStore, input: string | Uint8Array, pattern?: RegExp): Promise<void> {
  const v = await verifySignedData(input, { trust });
  if (v.valid) expect.fail('hostile input accepted');
  expect(v.code, v.message).to.equal('malformed');
  if (pattern) expect(v.message).to.match(pattern);
}

describe('signature: hostile input', function () {
  this.timeout(15_000);
  let trust: TrustStore;
  let valid: Buffer;

  before(async function () {
    this.timeout(60_000);
    const c = await corpus();
    trust = createTrustStore({ anchors: c.rootPem });
    valid = c.read('rsa-attached.der');
  });

  it('empty input, empty string, whitespace', async () => {
    await expectMalformed(trust, new Uint8Array(0), /empty/);
    await expectMalformed(trust, '', /empty/);
    await expectMalformed(trust, ' \n\t ', /empty/);
  });

  it('deeply nested definite and indefinite lengths stop at the depth limit', async () => {
    let nested: Buffer = Buffer.from([0x05, 0x00]);
    for (let i = 0; i < 10_000; i++) nested = tlv(0x30, nested);
    await expectMalformed(trust, nested, /nesting deeper than/);
    const indefinite = Buffer.alloc(2_000_000);
    for (let i = 0; i < indefinite.length; i += 2) [indefinite[i], indefinite[i + 1]] = [0x30, 0x80];
    await expectMalformed(trust, indefinite, /nesting deeper than/);
    // the same nesting hidden inside an otherwise plausible SignedData
    await expectMalformed(trust, tlv(0x30, Buffer.concat([SIGNED_DATA_OID, tlv(0xa0, nested)])), /nesting deeper than/);
  });

  it('huge and inconsistent length fields', async () => {
    await expectMalformed(trust, Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00]), /exceeds/);
    await expectMalformed(trust, Buffer.from([0x30, 0x88, 1, 0, 0, 0, 0, 0, 0, 0]), /length field of 8 bytes/);
    await expectMalformed(trust, Buffer.from([0x30, 0xff, 0x00]), /reserved length/);
    await expectMalformed(trust, Buffer.from([0x30, 0x03, 0x04, 0x80, 0x00]), /indefinite length on a primitive/);
    // an inner length larger than its parent
    await expectMalformed(trust, tlv(0x30, Buffer.concat([SIGNED_DATA_OID, Buffer.from([0xa0, 0x7f, 0x30, 0x00])])), /exceeds/);
    // a valid SignedData whose outer length claims more than there is
    const lying = Buffer.from(valid);
    lying[3] += 1;
    await expectMalformed(trust, lying);
  });

  it('millions of tiny elements stop at the element limit', async () => {
    const body = Buffer.alloc(4_000_000);
    for (let i = 0; i < body.length; i += 2) body[i] = 0x05;
    await expectMalformed(trust, tlv(0x30, body), /more than 100000 ASN.1 elements/);
  });

  it('every truncation of a valid signature', async () => {
    const step = Math.max(1, Math.floor(valid.length / 400));
    for (let n = 1; n < valid.length; n += step) {
      await expectMalformed(trust, valid.subarray(0, n));
      await expectMalformed(trust, valid.subarray(0, n).toString('base64'));
    }
  });

  it('trailing garbage after the SignedData', async () => {
    await expectMalformed(trust, Buffer.concat([valid, Buffer.from([0x00])]), /unexpected bytes after/);
  });

  it('random bytes (as DER and as base64)', async () => {
    for (let i = 0; i < 200; i++) {
      const bytes = crypto.randomBytes(1 + ((i * 97) % 3000));
      if (i % 2 === 0) bytes[0] = 0x30; // looks like a SEQUENCE
      await expectMalformed(trust, bytes);
      await expectMalformed(trust, bytes.toString('base64'));
    }
  });

  it('random single-byte corruption of a valid signature never throws and never validates a changed content', async () => {
    const rng = crypto.createHash('sha256').update('seed').digest();
    for (let i = 0; i < 300; i++) {
      const copy = Buffer.from(valid);
      const pos = (rng.readUInt32BE(i % 28) + i * 7919) % copy.length;
      copy[pos] ^= 1 << (i % 8);
      const v = await verifySignedData(copy, { trust });
      // a flipped bit in an unsigned part (e.g. the digestAlgorithms set) may still verify, as with openssl
      if (v.valid) expect(v.content.toString('utf8')).to.equal(CONTENT);
      else expect(v.code).to.be.a('string');
    }
  });

  it('not base64, bad PEM armour, oversize input', async () => {
    await expectMalformed(trust, 'this is not base64!', /neither DER nor base64/);
    await expectMalformed(trust, '-----BEGIN CMS-----\nMIIB\n', /PEM armour/);
    await expectMalformed(trust, 'QUJD' + 'x', /truncated base64/);
    const big = Buffer.alloc(11 * 1024 * 1024, 0x30);
    await expectMalformed(trust, big, /exceeds 10485760 bytes/);
    await expectMalformed(trust, big.toString('base64'), /exceeds/);
    const v = await verifySignedData(valid, { trust, maxInputBytes: 1000 });
    expect(v.valid ? 'valid' : v.message).to.match(/exceeds 1000 bytes/);
  });

  it('non-SignedData content types and wrong shapes', async () => {
    const dataOid = tlv(0x06, Buffer.from('2a864886f70d010701', 'hex'));
    await expectMalformed(trust, tlv(0x30, Buffer.concat([dataOid, tlv(0xa0, tlv(0x04, Buffer.from('x')))])), /not SignedData/);
    await expectMalformed(trust, tlv(0x30, Buffer.concat([SIGNED_DATA_OID, tlv(0xa0, tlv(0x30, Buffer.alloc(0)))])), /SignedData/);
    await expectMalformed(trust, tlv(0x02, Buffer.from([1])));
    // a certificate (not a SignedData)
    const c = await corpus();
    await expectMalformed(trust, c.read('rsa.pem').toString('utf8'));
  });

  it('bad arguments are verdicts too', async () => {
    const v = await verifySignedData(valid, { trust: undefined as unknown as TrustStore });
    expect(v.valid).to.equal(false);
    const w = await verifySignedData(42 as unknown as string, { trust });
    expect(w.valid ? 'valid' : w.code).to.equal('malformed');
  });
});

describe('signature: DER pre-scanner', () => {
  it('accepts nested definite and indefinite (BER) lengths and records byte ranges in pre-order', () => {
    // SEQUENCE(indefinite) { INTEGER 1, OCTET STRING(constructed, indefinite) { OCTET STRING "ab" } }
    const ber = Buffer.from([0x30, 0x80, 0x02, 0x01, 0x01, 0x24, 0x80, 0x04, 0x02, 0x61, 0x62, 0x00, 0x00, 0x00, 0x00]);
    const r = scanDer(ber);
    if (!r.ok) expect.fail(r.reason);
    expect(Array.from(r.ranges)).to.deep.equal([0, 15, 2, 5, 5, 13, 7, 11]);
  });

  it('rejects high tag numbers, stray end-of-contents, odd BMPString and missing end-of-contents', () => {
    expect(scanDer(Buffer.from([0x1f, 0x81, 0x00, 0x00]))).to.include({ ok: false });
    expect(scanDer(Buffer.from([0x30, 0x02, 0x00, 0x00]))).to.deep.include({ ok: false, reason: 'unexpected end-of-contents marker' });
    expect(scanDer(Buffer.from([0x1e, 0x01, 0x41]))).to.deep.include({ ok: false, reason: 'BMPString of odd length' });
    expect(scanDer(Buffer.from([0x30, 0x80, 0x05, 0x00]))).to.include({ ok: false });
  });
});
