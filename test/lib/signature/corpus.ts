/**
 * Test corpus generated with the `openssl` command line (an independent CMS implementation): a root CA (RSA-2048),
 * an intermediate (EC P-384), signers (RSA-2048, RSA-PSS, EC P-256), expired/revoked signers, a CRL, untrusted and
 * impostor roots, attached/detached/no-attribute signatures and tampered copies. Built once per run in a temp dir.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const OPENSSL = fs.existsSync('/usr/bin/openssl') ? '/usr/bin/openssl' : 'openssl';

export async function openssl(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run(OPENSSL, args, { cwd, maxBuffer: 64 * 1024 * 1024, encoding: 'latin1' });
  return stdout;
}

/**
 * `openssl cms -verify` verdict for a signature (exit status 0 = verified). OpenSSL 3.0's `cms` has no -CRLfile: with
 * `crl` the CA file is root + CRL (X509_LOOKUP_file reads both) and -crl_check is on.
 */
export async function opensslVerifies(
  dir: string,
  file: string,
  opts: { content?: string; crl?: boolean; purpose?: string; caFile?: string },
): Promise<{ ok: boolean; stderr: string }> {
  const caFile = opts.caFile ?? (opts.crl ? 'root-and-crl.pem' : 'root.pem');
  const args = ['cms', '-verify', '-binary', '-inform', 'DER', '-in', file, '-CAfile', caFile, '-out', os.devNull];
  if (opts.purpose !== 'default') args.push('-purpose', opts.purpose ?? 'any');
  if (opts.content) args.push('-content', opts.content);
  if (opts.crl) args.push('-crl_check');
  try {
    await run(OPENSSL, args, { cwd: dir });
    return { ok: true, stderr: '' };
  } catch (err) {
    return { ok: false, stderr: String((err as { stderr?: string }).stderr ?? err) };
  }
}

export const CONTENT = JSON.stringify({
  resourceType: 'CarePlan',
  status: 'active',
  intent: 'order',
  activity: [{ detail: { kind: 'ServiceRequest', status: 'scheduled', code: { text: 'signed care plan activity' } } }],
});

const CNF = (dir: string) => `
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_inter ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ signer_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ signer_drfo_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
2.5.29.9 = ASN1:SEQUENCE:sda
[ sda ]
drfo = SEQUENCE:drfo_attr
[ drfo_attr ]
type = OID:1.2.804.2.1.1.1.11.1.4.1.1
values = SET:drfo_values
[ drfo_values ]
v = PRINTABLESTRING:3344556677
[ encipher_only_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ca ]
default_ca = inter_ca
[ inter_ca ]
dir = ${dir}/ca
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = ${dir}/inter.pem
private_key = ${dir}/inter.key
default_md = sha384
default_days = 365
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
`;

export interface CorpusItem {
  name: string;
  /** file in the corpus dir (DER SignedData) */
  file: string;
  /** detached content file, when the signature is detached */
  content?: string;
  /** the expected verdict of this module: 'valid' or an error code */
  expected: 'valid' | 'malformed' | 'unsupported_algorithm' | 'digest_mismatch' | 'bad_signature' | 'untrusted_signer' | 'certificate_expired' | 'certificate_revoked' | 'no_signer';
  /** verify with the CRL configured (and openssl -crl_check) */
  crl?: boolean;
  /** openssl -purpose (default "any"; "default" = no -purpose, i.e. S/MIME signing) */
  purpose?: string;
  allowSha1?: boolean;
  taxId?: string;
}

/** The corpus, declared statically so tests can be defined before it is generated. */
export const ITEMS: CorpusItem[] = [
  { name: 'RSA-2048 attached, signed attributes', file: 'rsa-attached.der', expected: 'valid', crl: true, taxId: '3012345678' },
  { name: 'RSA-2048 detached', file: 'rsa-detached.der', content: 'content.json', expected: 'valid', crl: true },
  { name: 'RSA-2048 attached, no signed attributes', file: 'rsa-noattr.der', expected: 'valid', crl: true },
  { name: 'RSA-2048 signer identified by subjectKeyIdentifier', file: 'rsa-keyid.der', expected: 'valid', crl: true },
  { name: 'RSA-PSS padding (RSA key), SHA-256', file: 'rsa-pss.der', expected: 'valid', crl: true },
  { name: 'RSA-PSS key, SHA-384, max salt, detached', file: 'pss-key-detached.der', content: 'content.json', expected: 'valid', crl: true, taxId: '1111111111' },
  { name: 'RSA-PSS key under the rsaEncryption label', file: 'pss-key-mislabelled.der', expected: 'unsupported_algorithm', crl: true },
  { name: 'ECDSA P-256 attached, SHA-256', file: 'ec-attached.der', expected: 'valid', crl: true, taxId: '3344556677' },
  { name: 'ECDSA P-256 detached, no signed attributes, SHA-512', file: 'ec-detached-noattr.der', content: 'content.json', expected: 'valid', crl: true },
  { name: 'expired signer certificate', file: 'expired.der', expected: 'certificate_expired', crl: true },
  { name: 'revoked signer certificate (CRL configured)', file: 'revoked.der', expected: 'certificate_revoked', crl: true },
  { name: 'revoked signer certificate, no CRL configured', file: 'revoked.der', expected: 'valid', crl: false },
  { name: 'signer issued by an untrusted CA', file: 'untrusted.der', expected: 'untrusted_signer', crl: true },
  { name: 'signer issued by an impostor root with the trusted root\'s name', file: 'impostor.der', expected: 'untrusted_signer', crl: true },
  { name: 'signer certificate not included (-nocerts)', file: 'nocerts.der', expected: 'no_signer', crl: true },
  { name: 'signer key usage keyEncipherment only (S/MIME purpose)', file: 'encipher-only.der', expected: 'untrusted_signer', crl: true, purpose: 'default' },
  { name: 'BER with indefinite lengths (openssl -stream)', file: 'ber-streamed.der', expected: 'valid', crl: true },
  { name: 'tampered: content byte flipped in a BER SignedData', file: 'ber-streamed.content-flip.der', expected: 'digest_mismatch', crl: true },
  { name: 'two signers (RSA and ECDSA)', file: 'two-signers.der', expected: 'valid', crl: true },
  { name: 'two signers, the second one expired', file: 'two-signers-one-expired.der', expected: 'certificate_expired', crl: true },
  { name: 'SHA-1 digest with SHA-1 allowed', file: 'sha1.der', expected: 'valid', crl: true, allowSha1: true },
  { name: 'tampered: content byte flipped (signed attributes)', file: 'rsa-attached.content-flip.der', expected: 'digest_mismatch', crl: true },
  { name: 'tampered: content byte flipped (no signed attributes)', file: 'rsa-noattr.content-flip.der', expected: 'bad_signature', crl: true },
  { name: 'tampered: RSA signature byte flipped', file: 'rsa-attached.sig-flip.der', expected: 'bad_signature', crl: true },
  { name: 'tampered: RSA-PSS signature byte flipped', file: 'rsa-pss.sig-flip.der', expected: 'bad_signature', crl: true },
  { name: 'tampered: ECDSA signature byte flipped', file: 'ec-attached.sig-flip.der', expected: 'bad_signature', crl: true },
  { name: 'tampered: signingTime attribute changed', file: 'rsa-attached.attr-changed.der', expected: 'bad_signature', crl: true },
  { name: 'tampered: ECDSA signingTime attribute changed', file: 'ec-attached.attr-changed.der', expected: 'bad_signature', crl: true },
  { name: 'tampered: detached content changed (signed attributes)', file: 'rsa-detached.der', content: 'content-tampered.json', expected: 'digest_mismatch', crl: true },
  { name: 'tampered: detached content changed (ECDSA, no signed attributes)', file: 'ec-detached-noattr.der', content: 'content-tampered.json', expected: 'bad_signature', crl: true },
];

export interface Corpus {
  dir: string;
  read(file: string): Buffer;
  rootPem: string;
  crlPem: string;
  cleanup(): void;
}

interface Asn1Line {
  offset: number;
  depth: number;
  hl: number;
  len: number;
  type: string;
}

async function asn1parse(dir: string, file: string): Promise<Asn1Line[]> {
  const out = await openssl(['asn1parse', '-inform', 'DER', '-in', file], dir);
  const lines: Asn1Line[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+):d=\s*(\d+)\s+hl=\s*(\d+)\s+l=\s*(\d+)\s+(?:prim|cons):\s+([^:[]+)/.exec(line);
    if (m) lines.push({ offset: +m[1], depth: +m[2], hl: +m[3], len: +m[4], type: m[5].trim() });
  }
  return lines;
}

/** Copies a signature with one byte changed; positions found by `openssl asn1parse`, not by the code under test. */
async function tamper(dir: string, file: string, out: string, kind: 'content' | 'signature' | 'signingTime'): Promise<void> {
  const der = fs.readFileSync(path.join(dir, file));
  let pos: number;
  if (kind === 'content') {
    pos = der.indexOf(Buffer.from('signed care plan activity')) + 7;
    if (pos < 7) throw new Error(`content not found in ${file}`);
    der[pos] ^= 0x20; // 'c' -> 'C'
  } else {
    const lines = await asn1parse(dir, file);
    if (kind === 'signature') {
      const sig = lines.filter((l) => l.type === 'OCTET STRING').at(-1)!;
      pos = sig.offset + sig.hl + sig.len - 1; // last byte of the signature value
      der[pos] ^= 0x01;
    } else {
      const st = lines.filter((l) => l.type === 'UTCTIME').at(-1)!; // signingTime comes after the certificates
      pos = st.offset + st.hl + st.len - 2; // last seconds digit
      der[pos] = der[pos] === 0x39 ? 0x38 : der[pos] + 1;
    }
  }
  fs.writeFileSync(path.join(dir, out), der);
}

let shared: Promise<Corpus> | undefined;

/** The corpus shared by all test files of a run (generated on first use, removed at exit). */
export function corpus(): Promise<Corpus> {
  if (!shared) {
    shared = buildCorpus();
    shared.then((c) => process.once('exit', () => c.cleanup())).catch(() => undefined);
  }
  return shared;
}

export async function buildCorpus(): Promise<Corpus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cms-corpus-'));
  const o = (...args: string[]) => openssl(args, dir);
  fs.writeFileSync(path.join(dir, 'corpus.cnf'), CNF(dir));
  fs.mkdirSync(path.join(dir, 'ca', 'newcerts'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'ca', 'index.txt'), '');
  fs.writeFileSync(path.join(dir, 'ca', 'serial'), '1000\n');
  fs.writeFileSync(path.join(dir, 'ca', 'crlnumber'), '01\n');
  fs.writeFileSync(path.join(dir, 'content.json'), CONTENT);
  fs.writeFileSync(path.join(dir, 'content-tampered.json'), CONTENT.replace('signed care plan activity', 'signed care plan activitY'));

  const rsa = (f: string) => o('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', f);
  const ec = (f: string, curve: string) => o('genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-out', f);
  await Promise.all([
    rsa('root.key'),
    rsa('rsa.key'),
    o('genpkey', '-algorithm', 'RSA-PSS', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'pss.key'),
    ec('inter.key', 'P-384'),
    ec('ec.key', 'P-256'),
    ec('rogue.key', 'P-256'),
  ]);

  const cnf = ['-config', 'corpus.cnf'];
  // roots (the impostor reuses the trusted root's name with another key)
  await Promise.all([
    o('req', ...cnf, '-x509', '-new', '-key', 'root.key', '-subj', '/C=UA/O=Test eHealth/CN=Test Root CA', '-days', '3650', '-sha256', '-extensions', 'v3_root', '-out', 'root.pem'),
    o('req', ...cnf, '-x509', '-new', '-key', 'rogue.key', '-subj', '/C=UA/O=Elsewhere/CN=Untrusted Root CA', '-days', '3650', '-sha256', '-extensions', 'v3_root', '-out', 'untrusted-root.pem'),
    o('req', ...cnf, '-x509', '-new', '-key', 'rogue.key', '-subj', '/C=UA/O=Test eHealth/CN=Test Root CA', '-days', '3650', '-sha256', '-extensions', 'v3_root', '-out', 'impostor-root.pem'),
    o('req', ...cnf, '-new', '-key', 'inter.key', '-subj', '/C=UA/O=Test eHealth/CN=Test Issuing CA', '-out', 'inter.csr'),
    o('req', ...cnf, '-new', '-key', 'rsa.key', '-subj', '/C=UA/O=Clinic One/CN=Doctor RSA/serialNumber=TINUA-3012345678', '-out', 'rsa.csr'),
    o('req', ...cnf, '-new', '-key', 'pss.key', '-subj', '/C=UA/O=Clinic One/CN=Doctor PSS/serialNumber=PNOUA-1111111111', '-out', 'pss.csr'),
    o('req', ...cnf, '-new', '-key', 'ec.key', '-subj', '/C=UA/O=Clinic Two/CN=Doctor EC', '-out', 'ec.csr'),
  ]);
  await o('x509', '-req', '-in', 'inter.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-set_serial', '0x2001', '-days', '3650', '-sha256', '-extfile', 'corpus.cnf', '-extensions', 'v3_inter', '-out', 'inter.pem');
  await Promise.all([
    o('x509', '-req', '-in', 'ec.csr', '-CA', 'untrusted-root.pem', '-CAkey', 'rogue.key', '-set_serial', '0x3001', '-days', '365', '-sha256', '-extfile', 'corpus.cnf', '-extensions', 'signer_ext', '-out', 'untrusted.pem'),
    o('x509', '-req', '-in', 'ec.csr', '-CA', 'impostor-root.pem', '-CAkey', 'rogue.key', '-set_serial', '0x3002', '-days', '365', '-sha256', '-extfile', 'corpus.cnf', '-extensions', 'signer_ext', '-out', 'impostor.pem'),
  ]);
  // leaf certificates from the intermediate with `openssl ca` (sequential: it keeps a database)
  const ca = (csr: string, out: string, ext: string, ...extra: string[]) =>
    o('ca', '-batch', ...cnf, '-preserveDN', '-notext', '-in', csr, '-out', out, '-extensions', ext, ...extra);
  await ca('rsa.csr', 'rsa.pem', 'signer_ext');
  await ca('pss.csr', 'pss.pem', 'signer_ext');
  await ca('ec.csr', 'ec.pem', 'signer_drfo_ext');
  await ca('rsa.csr', 'expired.pem', 'signer_ext', '-startdate', '20200101000000Z', '-enddate', '20210101000000Z');
  await ca('rsa.csr', 'revoked.pem', 'signer_ext');
  await ca('rsa.csr', 'encipher-only.pem', 'encipher_only_ext');
  await o('ca', ...cnf, '-revoke', 'revoked.pem', '-crl_reason', 'keyCompromise');
  await o('ca', ...cnf, '-gencrl', '-out', 'crl.pem');
  fs.writeFileSync(path.join(dir, 'root-and-crl.pem'), fs.readFileSync(path.join(dir, 'root.pem'), 'utf8') + fs.readFileSync(path.join(dir, 'crl.pem'), 'utf8'));

  // signatures, at least one second after the leaf certificates were issued: the signingTime tampering below may move
  // the time one second back, which must not fall before the certificate's notBefore (that would be a validity
  // verdict, not the bad signature both verifiers must report)
  await new Promise((r) => setTimeout(r, 1100));
  const sign = (out: string, cert: string, key: string, ...extra: string[]) =>
    o('cms', '-sign', '-binary', '-in', 'content.json', '-signer', cert, '-inkey', key, '-outform', 'DER', '-out', out, ...extra);
  const withInter = ['-certfile', 'inter.pem'];
  await Promise.all([
    sign('rsa-attached.der', 'rsa.pem', 'rsa.key', '-nodetach', '-md', 'sha256', ...withInter),
    sign('rsa-detached.der', 'rsa.pem', 'rsa.key', '-md', 'sha256', ...withInter),
    sign('rsa-noattr.der', 'rsa.pem', 'rsa.key', '-nodetach', '-noattr', '-md', 'sha256', ...withInter),
    sign('rsa-keyid.der', 'rsa.pem', 'rsa.key', '-nodetach', '-keyid', '-md', 'sha256', ...withInter),
    sign('rsa-pss.der', 'rsa.pem', 'rsa.key', '-nodetach', '-md', 'sha256', '-keyopt', 'rsa_padding_mode:pss', ...withInter),
    sign('pss-key-detached.der', 'pss.pem', 'pss.key', '-md', 'sha384', '-keyopt', 'rsa_padding_mode:pss', ...withInter),
    // OpenSSL 3.0 labels this one rsaEncryption although the key is an RSA-PSS key: both sides must refuse it
    sign('pss-key-mislabelled.der', 'pss.pem', 'pss.key', '-nodetach', '-md', 'sha256', ...withInter),
    sign('ec-attached.der', 'ec.pem', 'ec.key', '-nodetach', '-md', 'sha256', ...withInter),
    sign('ec-detached-noattr.der', 'ec.pem', 'ec.key', '-noattr', '-md', 'sha512', ...withInter),
    sign('expired.der', 'expired.pem', 'rsa.key', '-nodetach', '-md', 'sha256', ...withInter),
    sign('revoked.der', 'revoked.pem', 'rsa.key', '-nodetach', '-md', 'sha256', ...withInter),
    sign('untrusted.der', 'untrusted.pem', 'ec.key', '-nodetach', '-md', 'sha256', '-certfile', 'untrusted-root.pem'),
    sign('impostor.der', 'impostor.pem', 'ec.key', '-nodetach', '-md', 'sha256', '-certfile', 'impostor-root.pem'),
    sign('nocerts.der', 'rsa.pem', 'rsa.key', '-nodetach', '-nocerts', '-md', 'sha256'),
    sign('encipher-only.der', 'encipher-only.pem', 'rsa.key', '-nodetach', '-md', 'sha256', ...withInter),
    sign('sha1.der', 'rsa.pem', 'rsa.key', '-nodetach', '-md', 'sha1', ...withInter),
    sign('ber-streamed.der', 'rsa.pem', 'rsa.key', '-nodetach', '-stream', '-md', 'sha256', ...withInter),
    sign('two-signers.der', 'rsa.pem', 'rsa.key', '-signer', 'ec.pem', '-inkey', 'ec.key', '-nodetach', '-md', 'sha256', ...withInter),
    sign('two-signers-one-expired.der', 'ec.pem', 'ec.key', '-signer', 'expired.pem', '-inkey', 'rsa.key', '-nodetach', '-md', 'sha256', ...withInter),
  ]);
  await Promise.all([
    tamper(dir, 'rsa-attached.der', 'rsa-attached.content-flip.der', 'content'),
    tamper(dir, 'rsa-noattr.der', 'rsa-noattr.content-flip.der', 'content'),
    tamper(dir, 'ber-streamed.der', 'ber-streamed.content-flip.der', 'content'),
    tamper(dir, 'rsa-attached.der', 'rsa-attached.sig-flip.der', 'signature'),
    tamper(dir, 'rsa-pss.der', 'rsa-pss.sig-flip.der', 'signature'),
    tamper(dir, 'ec-attached.der', 'ec-attached.sig-flip.der', 'signature'),
    tamper(dir, 'rsa-attached.der', 'rsa-attached.attr-changed.der', 'signingTime'),
    tamper(dir, 'ec-attached.der', 'ec-attached.attr-changed.der', 'signingTime'),
  ]);

  return {
    dir,
    read: (file) => fs.readFileSync(path.join(dir, file)),
    rootPem: fs.readFileSync(path.join(dir, 'root.pem'), 'utf8'),
    crlPem: fs.readFileSync(path.join(dir, 'crl.pem'), 'utf8'),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
