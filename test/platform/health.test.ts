import { expect } from 'chai';
import { engine } from '../support/harness.js';

describe('health and readiness', () => {
  it('GET /healthz answers 200 while the process is up', async () => {
    const res = await fetch(`${engine().url}/healthz`);
    expect(res.status).to.equal(200);
    expect(((await res.json()) as any)).to.deep.equal({ status: 'ok' });
  });

  it('GET /readyz answers 200 when the database is reachable', async () => {
    const res = await fetch(`${engine().url}/readyz`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
  });

  it('unknown routes get a JSON error body', async () => {
    const res = await fetch(`${engine().url}/no/such/route`);
    expect(res.status).to.equal(404);
    expect(((await res.json()) as any)).to.deep.equal({ error: { type: 'not_found', message: 'No route for GET /no/such/route' } });
  });

  it('echoes a sane X-Request-Id', async () => {
    const res = await fetch(`${engine().url}/healthz`, { headers: { 'X-Request-Id': 'abc-123' } });
    expect(res.headers.get('x-request-id')).to.equal('abc-123');
  });
});
