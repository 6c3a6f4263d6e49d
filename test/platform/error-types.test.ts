/**
 * One error envelope for every /api answer, with the stable types of docs/errors.md (also the OpenAPI `Error` enum).
 */
import fs from 'node:fs';
import { expect } from 'chai';
import { ERROR_TYPES } from '../../src/platform/http/error-types.js';
import { projectPath } from '../../src/platform/paths.js';
import { engine } from '../support/harness.js';

async function call(path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${engine().url}${path}`, init);
  return { status: res.status, body: await res.json() };
}

function expectEnvelope(r: { status: number; body: any }, status: number, type: string): void {
  expect(r.status, JSON.stringify(r.body)).to.equal(status);
  expect(r.body.meta).to.include({ code: status, type: 'object' });
  expect(r.body.meta.request_id).to.match(/^[0-9a-f-]{36}$/);
  expect(r.body.error.type).to.equal(type);
  expect(Object.keys(ERROR_TYPES)).to.include(r.body.error.type);
}

describe('errors: one envelope and stable types for /api', () => {
  it('docs/errors.md and the OpenAPI Error schema list exactly the stable types', async () => {
    const doc = fs.readFileSync(projectPath('docs', 'errors.md'), 'utf8');
    const listed = [...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}|4xx) \|/gm)].map((m) => m[1]);
    expect(listed).to.deep.equal(Object.keys(ERROR_TYPES));
    const openapi = (await call('/api/openapi.json')).body;
    expect(openapi.components.schemas.Error.properties.error.properties.type.enum).to.deep.equal(Object.keys(ERROR_TYPES));
  });

  it('an unknown /api route is a 404 in the envelope', async () => {
    expectEnvelope(await call('/api/no-such-thing'), 404, 'not_found');
  });

  it('an unreadable JSON body is 400 request_malformed in the envelope, on every /api family', async () => {
    const token = await engine().token('consultations:write job:read registries:write');
    for (const path of ['/api/consultations', '/api/registries/legal_entities']) {
      const r = await call(path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"a":' });
      expectEnvelope(r, 400, 'request_malformed');
      expect(r.body.error.message).to.equal('Request body is not valid JSON');
    }
  });

  it('a request that breaks a rule is 422 validation_failed, pointing at this engine\'s documentation', async () => {
    const token = await engine().token('consultations:write');
    const r = await call('/api/consultations', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
    expectEnvelope(r, 422, 'validation_failed');
    expect(r.body.error.message).to.contain('docs/errors.md');
    expect(JSON.stringify(r.body)).not.to.match(/apiary|esoz/);
  });
});
