/**
 * Routes that answer in the eHealth envelope refuse in it too: 401 (no or bad token) and 403 (missing scope, no legal
 * entity, X-Target-Tenant without the support scope) carry the same `meta` as their 404s and successes.
 */
import { expect } from 'chai';
import { engine } from '../support/harness.js';

interface Answer {
  status: number;
  body: { meta?: { code: number; url: string; type: string; request_id: string }; error?: { type: string; message: string } };
}

async function get(path: string, token?: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${engine().url}${path}`, { headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers } });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

/** The envelope of an error: exactly meta and error, meta naming the status, the URL asked for and the request. */
function expectEnvelope(a: Answer, path: string, status: number, type: string, message: string | RegExp): void {
  expect(a.status, JSON.stringify(a.body)).to.equal(status);
  expect(Object.keys(a.body).sort()).to.deep.equal(['error', 'meta']);
  expect(a.body.meta).to.include({ code: status, url: `${engine().url}${path}`, type: 'object' });
  expect(a.body.meta!.request_id).to.be.a('string').and.not.equal('');
  expect(a.body.error!.type).to.equal(type);
  if (typeof message === 'string') expect(a.body.error!.message).to.equal(message);
  else expect(a.body.error!.message).to.match(message);
}

const NO_BEARER = "Authorization header is not set or doesn't contain Bearer token";
const ROUTES = [
  { path: '/api/jobs', scope: 'job:read', notFound: '/api/jobs/5f0c8b7e9d3a2b1c4d5e6f70' },
  { path: '/api/messages', scope: 'messages:read', notFound: '/api/messages/00000000-0000-4000-8000-000000000000' },
  { path: '/api/consultations', scope: 'consultations:read', notFound: '/api/consultations/00000000-0000-4000-8000-000000000000' },
];

describe('envelope routes refuse in the envelope', () => {
  for (const r of ROUTES) {
    describe(r.path, () => {
      it('401 without a bearer token and with a bad one, with meta like its 404', async () => {
        expectEnvelope(await get(r.path), r.path, 401, 'access_denied', NO_BEARER);
        expectEnvelope(await get(r.path, 'not.a.token'), r.path, 401, 'access_denied', 'Invalid access token');
        const expired = await engine().token(r.scope, { expiresIn: '-1m' });
        expectEnvelope(await get(r.path, expired), r.path, 401, 'access_denied', 'Invalid access token');
        // The same route's 404, for comparison: the same shape.
        expectEnvelope(await get(r.notFound, await engine().token(r.scope)), r.notFound, 404, 'not_found', /not found/);
      });

      it('403 for a token without the scope', async () => {
        const token = await engine().token('something:else');
        expectEnvelope(await get(r.path, token), r.path, 403, 'forbidden', `Your scope does not allow to access this resource. Missing allowances: ${r.scope}`);
      });
    });
  }

  it('403 for a token that names no legal entity (messages, consultations)', async () => {
    for (const r of ROUTES.filter((x) => x.path !== '/api/jobs')) {
      const token = await engine().token(r.scope, { clientId: null });
      expectEnvelope(await get(r.path, token), r.path, 403, 'forbidden', /names no legal entity/);
    }
  });

  it('403 for X-Target-Tenant without the support scope (jobs, messages)', async () => {
    for (const r of ROUTES.filter((x) => x.path !== '/api/consultations')) {
      const token = await engine().token(r.scope);
      expectEnvelope(await get(r.path, token, { 'x-target-tenant': 'le-2' }), r.path, 403, 'forbidden', /needs the scope support:cross_tenant/);
    }
  });

  it('the henvisning transport (POST /api/messages) keeps its plain errors, no token included', async () => {
    const res = await fetch(`${engine().url}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<x/>' });
    expect(res.status).to.equal(401);
    expect(await res.json()).to.deep.equal({ error: { type: 'access_denied', message: NO_BEARER } });
  });
});
