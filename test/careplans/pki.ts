/**
 * A throwaway PKI made with the `openssl` command line for the care plan tests: a root CA used as the engine's trust
 * anchor (SIGNATURE_TRUST_ANCHORS), signers whose subject serialNumber carries the DRFO, one without it, and a signer
 * of an untrusted CA. `sign()` makes CMS SignedData with `openssl cms -sign` (attached content, DER).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);
const OPENSSL = fs.existsSync('/usr/bin/openssl') ? '/usr/bin/openssl' : 'openssl';

async function openssl(args: string[], cwd: string): Promise<void> {
  await run(OPENSSL, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
}

export interface Signer {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  rootPem: string;
  /** DRFO 3012345678 */
  doctor: Signer;
  /** serialNumber "TINUA-2233445566" */
  tinua: Signer;
  /** passport number written in Latin letters: ME123456 */
  passport: Signer;
  /** DRFO 1111111111 */
  stranger: Signer;
  /** no serialNumber at all */
  noDrfo: Signer;
  /** signed by a CA the engine does not trust (DRFO 3012345678) */
  untrusted: Signer;
}

const EXT = `
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ signer_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
  await openssl(
    ['req', '-new', '-x509', '-key', `${name}.key`, '-out', `${name}.pem`, '-days', '3650', '-subj', `/C=UA/O=Test eHealth/CN=${name}`, '-config', 'ext.cnf', '-extensions', 'ca_ext'],
    dir,
  );
}

async function makeSigner(dir: string, ca: string, name: string, subject: string): Promise<Signer> {
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
  await openssl(['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subject, '-config', 'ext.cnf'], dir);
  await openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-set_serial', `0x${randomUUID().replace(/-/g, '').slice(0, 16)}`, '-out', `${name}.pem`, '-days', '365', '-extfile', 'ext.cnf', '-extensions', 'signer_ext'],
    dir,
  );
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

let pki: Promise<TestPki> | undefined;

export function testPki(): Promise<TestPki> {
  pki ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'careplan-pki-'));
    fs.writeFileSync(path.join(dir, 'ext.cnf'), `[ req ]\ndistinguished_name = dn\n[ dn ]\n${EXT}`);
    await makeCa(dir, 'root');
    await makeCa(dir, 'rogue');
    const [doctor, tinua, passport, stranger, noDrfo, untrusted] = await Promise.all([
      makeSigner(dir, 'root', 'doctor', '/C=UA/O=Clinic/CN=Doctor Test/serialNumber=3012345678'),
      makeSigner(dir, 'root', 'tinua', '/C=UA/O=Clinic/CN=Tinua Test/serialNumber=TINUA-2233445566'),
      makeSigner(dir, 'root', 'passport', '/C=UA/O=Clinic/CN=Passport Test/serialNumber=ME123456'),
      makeSigner(dir, 'root', 'stranger', '/C=UA/O=Clinic/CN=Stranger Test/serialNumber=1111111111'),
      makeSigner(dir, 'root', 'nodrfo', '/C=UA/O=Clinic/CN=No Drfo'),
      makeSigner(dir, 'rogue', 'untrusted', '/C=UA/O=Rogue/CN=Rogue Doctor/serialNumber=3012345678'),
    ]);
    return { dir, rootPem: path.join(dir, 'root.pem'), doctor, tinua, passport, stranger, noDrfo, untrusted };
  })();
  return pki;
}

/** CMS SignedData (DER) of `content` by `signers` (openssl cms -sign, attached, SHA-256). */
export async function signDer(content: string | Buffer, ...signers: Signer[]): Promise<Buffer> {
  const { dir } = await testPki();
  const id = randomUUID();
  const inFile = path.join(dir, `${id}.json`);
  const outFile = path.join(dir, `${id}.der`);
  fs.writeFileSync(inFile, content);
  const args = ['cms', '-sign', '-binary', '-nodetach', '-md', 'sha256', '-outform', 'DER', '-in', inFile, '-out', outFile];
  for (const s of signers) args.push('-signer', s.cert, '-inkey', s.key);
  await openssl(args, dir);
  const der = fs.readFileSync(outFile);
  fs.rmSync(inFile);
  fs.rmSync(outFile);
  return der;
}

export async function sign(content: unknown, ...signers: Signer[]): Promise<string> {
  const text = typeof content === 'string' || Buffer.isBuffer(content) ? content : JSON.stringify(content);
  return (await signDer(text, ...signers)).toString('base64');
}
