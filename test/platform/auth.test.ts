import { expect } from 'chai';
import { SignJWT, generateKeyPair } from 'jose';
import { engine } from '../support/harness.js';

const PATH = '/api/jobs/5f0c8b7e9d3a2b1c4d5e6f70';
/** The jobs API answers in the eHealth envelope, refusals included. */
const META = (code: number) => ({ code, url: `${engine().url}${PATH}`, type: 'object' });
const FORBIDDEN = (missing: string) => ({
  meta: META(403),
  error: { type: 'forbidden', message: `Your scope does not allow to access this resource. Missing allowances: ${missing}` },
});
const INVALID = () => ({ meta: META(401), error: { type: 'access_denied', message: 'Invalid access token' } });

async function call(token?: string) {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${engine().url}${PATH}`, { headers });
  const body = (await res.json()) as any;
  // The request id differs per request: checked for presence, then left out of the comparison.
  if (body.meta) {
    expect(body.meta.request_id).to.be.a('string').and.not.equal('');
    delete body.meta.request_id;
  }
  return { status: res.status, body };
}

describe('token authentication', () => {
  it('accepts a token signed with the configured key that has the scope', async () => {
    const res = await call(await engine().token('job:read'));
    expect(res.status).to.equal(404); // authenticated and authorised; the job simply does not exist
  });

  it('refuses a token signed by another key with 401 and the exact body', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ scope: 'job:read' })
      .setProtectedHeader({ alg: 'ES256', kid: 'attacker' })
      .setSubject('user-1')
      .setExpirationTime('1h')
      .sign(privateKey);
    expect(await call(forged)).to.deep.equal({ status: 401, body: INVALID() });
  });

  it('refuses an expired token with 401 and the exact body', async () => {
    const expired = await engine().token('job:read', { expiresIn: '-1m' });
    expect(await call(expired)).to.deep.equal({ status: 401, body: INVALID() });
  });

  it('refuses a token without the scope with 403 listing the missing scope', async () => {
    const res = await call(await engine().token('messages:read job:write'));
    expect(res).to.deep.equal({ status: 403, body: FORBIDDEN('job:read') });
  });

  it('refuses garbage and unsigned (alg none) tokens', async () => {
    expect(await call('not.a.jwt')).to.deep.equal({ status: 401, body: INVALID() });
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ sub: 'u', scope: 'job:read', exp: 9999999999 })).toString('base64url');
    expect(await call(`${header}.${payload}.`)).to.deep.equal({ status: 401, body: INVALID() });
  });

  it('a request without a bearer header gets 401 saying so', async () => {
    const res = await call();
    expect(res.status).to.equal(401);
    expect(res.body).to.deep.equal({
      meta: META(401),
      error: { type: 'access_denied', message: "Authorization header is not set or doesn't contain Bearer token" },
    });
  });
});
