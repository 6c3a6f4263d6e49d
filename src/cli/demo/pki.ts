/**
 * The demo's throwaway PKI, made with node-forge: a root CA (to add to SIGNATURE_TRUST_ANCHORS) and a signer whose
 * subject serialNumber is the party's tax id (the care plan rules compare the two), and CMS SignedData (attached
 * content, SHA-256, RSA) of an activity signed by that signer. For trying the engine only: the keys are written in
 * the clear next to the certificates.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface DemoPki {
  caCertPem: string;
  caKeyPem: string;
  signerCertPem: string;
  signerKeyPem: string;
}

function rsaKeys(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const key = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) };
}

function certificate(subject: forge.pki.CertificateField[], issuer: forge.pki.CertificateField[], publicKey: forge.pki.PublicKey, years: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Random and positive (a leading 01 byte keeps the high bit clear).
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = new Date(Date.now() + years * 365 * 86_400_000);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  return cert;
}

/** A CA valid for ten years and a signer valid for one, whose subject serialNumber is `taxId`. */
export function createDemoPki(opts: { organisation: string; signerName: string; taxId: string }): DemoPki {
  const ca = rsaKeys();
  const caName = [
    { shortName: 'C', value: 'UA' },
    { shortName: 'O', value: opts.organisation },
    { shortName: 'CN', value: `${opts.organisation} demo CA` },
  ];
  const caCert = certificate(caName, caName, ca.publicKey, 10);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.privateKey, forge.md.sha256.create());

  const signer = rsaKeys();
  const signerCert = certificate(
    [
      { shortName: 'C', value: 'UA' },
      { shortName: 'O', value: opts.organisation },
      { shortName: 'CN', value: opts.signerName },
      { name: 'serialNumber', value: opts.taxId },
    ],
    caName,
    signer.publicKey,
    1,
  );
  signerCert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, nonRepudiation: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  signerCert.sign(ca.privateKey, forge.md.sha256.create());

  return {
    caCertPem: forge.pki.certificateToPem(caCert),
    caKeyPem: forge.pki.privateKeyToPem(ca.privateKey),
    signerCertPem: forge.pki.certificateToPem(signerCert),
    signerKeyPem: forge.pki.privateKeyToPem(signer.privateKey),
  };
}

/** CMS SignedData (DER, content attached) of the UTF-8 `content`, signed with SHA-256 by the signer. */
export function signContent(content: string, signerCertPem: string, signerKeyPem: string): Buffer {
  const p7 = forge.pkcs7.createSignedData();
  p7.content = forge.util.createBuffer(forge.util.encodeUtf8(content));
  const certificate = forge.pki.certificateFromPem(signerCertPem);
  p7.addCertificate(certificate);
  p7.addSigner({
    key: forge.pki.privateKeyFromPem(signerKeyPem),
    certificate,
    digestAlgorithm: forge.pki.oids.sha256,
    authenticatedAttributes: [
      { type: forge.pki.oids.contentType, value: forge.pki.oids.data },
      { type: forge.pki.oids.messageDigest },
      { type: forge.pki.oids.signingTime, value: new Date() as unknown as string },
    ],
  });
  p7.sign();
  return Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), 'binary');
}
