/**
 * Logs never hold personal data from the request line or headers: a national id in the path or in X-Request-Id
 * reaches no log line; lines carry the route pattern, and an X-Request-Id of an unsafe shape is replaced.
 */
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { configureLogger } from '../../src/platform/logging/logger.js';
import { startTestEngine, type TestEngine } from '../support/harness.js';
import { rawRequest } from './support.js';

const NATIONAL_ID = '01010112345';

describe('hostile input: personal data in paths and X-Request-Id stays out of logs', function () {
  this.timeout(60_000);
  const lines: string[] = [];
  let e: TestEngine;
  let token: string;

  before(async () => {
    // The engine's request logger is made from the root logger when the engine starts: capture first, then start.
    configureLogger('info', new Writable({ write: (chunk, _enc, cb) => (lines.push(...String(chunk).split('\n').filter(Boolean)), cb()) }));
    e = await startTestEngine();
    token = await e.token('system/*.* care_plan:read job:read', { clientId: 'hostile-le' });
  });

  after(async () => {
    await e?.stop();
    configureLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  });

  /** The completion lines pino-http wrote for requests with this request id. */
  const completed = (reqId: string) =>
    lines.map((l) => JSON.parse(l)).filter((l) => l.reqId === reqId && l.msg === 'request completed');

  const cases: { path: string; route: string; status: number }[] = [
    { path: `/api/patients/${NATIONAL_ID}/care_plans?national_id=${NATIONAL_ID}`, route: '/api/patients/:patient_id/care_plans', status: 200 },
    { path: `/fhir/Patient/${NATIONAL_ID}`, route: '/fhir/:type/:id', status: 404 },
    { path: `/fhir/Patient?identifier=urn:oid:2.16.578.1.12.4.1.4.1|${NATIONAL_ID}`, route: '/fhir/:type', status: 200 },
    { path: `/api/jobs/${NATIONAL_ID}`, route: '/api/jobs/:id', status: 404 },
    { path: `/api/nothing/${NATIONAL_ID}`, route: 'unmatched', status: 404 },
  ];

  for (const c of cases) {
    it(`GET ${c.path.split('?')[0]} is logged as ${c.route}, without the national id`, async () => {
      const before = lines.length;
      const reqId = `case-${Math.random().toString(36).slice(2, 10)}`;
      const a = await rawRequest(e.url, { method: 'GET', path: c.path, headers: { authorization: `Bearer ${token}`, 'x-request-id': reqId } });
      expect(a.status, a.text).to.equal(c.status);
      expect(a.headers['x-request-id']).to.equal(reqId);
      await new Promise((r) => setTimeout(r, 50)); // the completion line is written on 'finish'
      const done = completed(reqId);
      expect(done, lines.slice(before).join('\n')).to.have.length(1);
      expect(done[0].req).to.deep.equal({ method: 'GET' });
      expect(done[0].route).to.equal(c.route);
      expect(lines.slice(before).join('\n')).to.not.include(NATIONAL_ID);
    });
  }

  const unsafe: [string, string][] = [
    ['a national id', NATIONAL_ID],
    ['a national id inside', `req-${NATIONAL_ID}-x`],
    ['a run of 6 digits', 'abc123456'],
    ['65 characters', 'a'.repeat(65)],
    ['a colon', 'abc:def'],
    ['a space', 'abc def'],
    ['an @', 'line@example.com'],
  ];
  for (const [what, given] of unsafe) {
    it(`an X-Request-Id with ${what} is replaced by a new id, and logged nowhere`, async () => {
      const before = lines.length;
      const a = await rawRequest(e.url, { method: 'GET', path: '/api/jobs/some-job', headers: { authorization: `Bearer ${token}`, 'x-request-id': given } });
      expect(a.status).to.equal(404);
      const id = String(a.headers['x-request-id']);
      expect(id).to.not.equal(given);
      expect(id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      await new Promise((r) => setTimeout(r, 50));
      expect(completed(id)).to.have.length(1);
      expect(lines.slice(before).join('\n')).to.not.include(given);
    });
  }

  for (const given of ['abc-123', 'A.b_c-D', 'x'.repeat(64), 'order-12345']) {
    it(`an X-Request-Id of a safe shape (${given}) is kept and logged`, async () => {
      const a = await rawRequest(e.url, { method: 'GET', path: '/api/jobs/some-job', headers: { authorization: `Bearer ${token}`, 'x-request-id': given } });
      expect(a.headers['x-request-id']).to.equal(given);
      await new Promise((r) => setTimeout(r, 50));
      expect(completed(given)).to.have.length(1);
    });
  }
});
