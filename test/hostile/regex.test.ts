/**
 * Regular expressions that come with data (dictionary `normalize` rules) never backtrack: they run on RE2, and
 * patterns RE2 cannot run are refused at upload.
 */
import { expect } from 'chai';
import { engine } from '../support/harness.js';
import { bodyKind, rawRequest } from './support.js';

const EVIL = '^(a+)+$';
const ATTACK = `${'a'.repeat(28)}!`;

function dictionary(name: string, pattern: string) {
  return {
    name,
    title: 'Hostile patterns',
    version: 'v1',
    languages: ['en'],
    normalize: [{ pattern, replace: 'A' }],
    codes: [{ code: 'A', display: { en: 'A' }, active: true }],
  };
}

describe('hostile input: regular expressions from data', function () {
  this.timeout(60_000);
  let token: string;
  const send = (method: string, path: string, body?: unknown) =>
    rawRequest(engine().url, {
      method,
      path,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });

  before(async () => {
    token = await engine().token('dictionaries:read dictionaries:write system/*.read', { clientId: 'hostile-le' });
  });

  const refused: [string, string][] = [
    ['a backreference', '^(a+)\\1$'],
    ['a lookahead', '^a(?=b)'],
    ['a negative lookbehind', '(?<!x)a'],
  ];
  for (const [what, pattern] of refused) {
    it(`refuses a pattern with ${what} (${pattern}) at upload: 422 in the dictionaries' error body`, async () => {
      const name = `HOSTILE/re${Math.random().toString(36).slice(2, 8)}`;
      const a = await send('PUT', `/api/dictionaries/${encodeURIComponent(name)}`, dictionary(name, pattern));
      expect(a.status, a.text).to.equal(422);
      expect(bodyKind(a.json)).to.equal('envelope');
      expect(a.json.error.type).to.equal('validation_failed');
      const entry = a.json.error.invalid.find((i: { entry: string }) => i.entry === '$.normalize[0].pattern');
      expect(entry, a.text).to.not.equal(undefined);
      expect(entry.rules[0].description).to.match(/RE2/);
    });
  }

  it(`accepts ${EVIL}, and lookups of ${ATTACK} answer fast while /healthz stays under 100 ms`, async () => {
    const name = `HOSTILE/evil${Math.random().toString(36).slice(2, 8)}`;
    const put = await send('PUT', `/api/dictionaries/${encodeURIComponent(name)}`, dictionary(name, EVIL));
    expect(put.status, put.text).to.be.oneOf([200, 201]);
    const cs = await send('GET', `/fhir/CodeSystem?name=${encodeURIComponent(name)}`);
    const fhirId = put.json.data?.fhir_id ?? cs.json?.entry?.[0]?.resource?.id;
    expect(fhirId, put.text).to.be.a('string');

    // The normalised form still works (RE2 runs the rule): aaaa → A.
    const normal = await send('GET', `/api/dictionaries/${encodeURIComponent(name)}/codes/aaaa`);
    expect(normal.status, normal.text).to.equal(200);
    expect(normal.json.data.code).to.equal('A');

    const lookups = [
      send('GET', `/api/dictionaries/${encodeURIComponent(name)}/codes/${ATTACK}`),
      send('GET', `/fhir/CodeSystem/${fhirId}/$validate-code?code=${ATTACK}`),
      send('GET', `/fhir/CodeSystem/${fhirId}/$lookup?code=${ATTACK}`),
    ];
    // /healthz probed every 25 ms until the lookups are answered: a blocked event loop delays some probe.
    let settled = false;
    const all = Promise.all(lookups).finally(() => (settled = true));
    const probes: number[] = [];
    while (!settled && probes.length < 80) {
      const health = await rawRequest(engine().url, { method: 'GET', path: '/healthz' });
      expect(health.status).to.equal(200);
      probes.push(health.ms);
      await new Promise((r) => setTimeout(r, 25));
    }
    const [api, validate, lookup] = await all;
    expect(Math.max(...probes)).to.be.below(100);
    expect(api.status, api.text).to.equal(404);
    expect(validate.status, validate.text).to.equal(200);
    expect(validate.json.parameter.find((p: { name: string }) => p.name === 'result').valueBoolean).to.equal(false);
    expect(lookup.status).to.be.within(400, 499);
    for (const a of [api, validate, lookup]) expect(a.ms).to.be.below(1000);
  });
});
