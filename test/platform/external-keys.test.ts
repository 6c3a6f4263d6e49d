import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { loadConfig } from '../../src/platform/config/config.js';
import { startTestEngine, tmpDir, type TestEngine } from '../support/harness.js';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** An engine that trusts an identity provider's JWKS file (RS256 and ES256 keys), with issuer and audience. */
describe('token authentication against configured keys (AUTH_JWKS_FILE)', () => {
  let e: TestEngine;
  let rsa: PrivateKey;
  let ec: PrivateKey;
  const INVALID = { code: 401, error: { type: 'access_denied', message: 'Invalid access token' } };

  before(async () => {
    const rsaPair = await generateKeyPair('RS256');
    const ecPair = await generateKeyPair('ES256');
    rsa = rsaPair.privateKey;
    ec = ecPair.privateKey;
    const keys = [
      { ...(await exportJWK(rsaPair.publicKey)), kid: 'idp-rsa', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ecPair.publicKey)), kid: 'idp-ec', alg: 'ES256', use: 'sig' },
    ];
    const file = path.join(tmpDir(), 'idp-jwks.json');
    fs.writeFileSync(file, JSON.stringify({ keys }));
    e = await startTestEngine({ env: { AUTH_JWKS_FILE: file, AUTH_ISSUER: 'https://idp.example/', AUTH_AUDIENCE: 'hl7-engine' } });
  });
  after(async () => e?.stop());

  const sign = (key: PrivateKey, alg: string, kid: string, claims: { aud?: string; iss?: string } = {}) =>
    new SignJWT({ scope: 'job:read', client_id: 'le-1' })
      .setProtectedHeader({ alg, kid })
      .setSubject('user-9')
      .setIssuer(claims.iss ?? 'https://idp.example/')
      .setAudience(claims.aud ?? 'hl7-engine')
      .setExpirationTime('5m')
      .sign(key);

  const call = async (token: string) => {
    const res = await fetch(`${e.url}/api/jobs?page_size=1`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { meta?: { code: number }; error?: unknown };
    // The jobs API refuses in its envelope: the status in meta, the error beside it.
    return { status: res.status, body: { code: body.meta?.code, error: body.error } as unknown };
  };

  it('accepts RS256 and ES256 tokens of the identity provider', async () => {
    expect((await call(await sign(rsa, 'RS256', 'idp-rsa'))).status).to.equal(200);
    expect((await call(await sign(ec, 'ES256', 'idp-ec'))).status).to.equal(200);
  });

  it('refuses a token for another audience or from another issuer', async () => {
    expect(await call(await sign(rsa, 'RS256', 'idp-rsa', { aud: 'another-app' }))).to.deep.equal({ status: 401, body: INVALID });
    expect(await call(await sign(rsa, 'RS256', 'idp-rsa', { iss: 'https://evil.example/' }))).to.deep.equal({ status: 401, body: INVALID });
  });

  it('will not start with external keys but no audience', () => {
    expect(() => loadConfig({ AUTH_JWKS_URI: 'https://idp.example/jwks.json' })).to.throw(
      'Invalid configuration: AUTH_AUDIENCE must be set when AUTH_JWKS_FILE or AUTH_JWKS_URI is set',
    );
  });
});
