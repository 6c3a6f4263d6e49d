/**
 * FHIR validation refuses element names that are not in the definitions whatever their spelling: names every
 * JavaScript object inherits (`__proto__`, `constructor`, …) are refused like `foo`, at any depth.
 */
import { expect } from 'chai';
import { engine } from '../support/harness.js';
import { bodyKind, rawRequest } from './support.js';

const NAMES = ['foo', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '_toString'];

/** Where the element goes: JSON text written by hand, so `__proto__` is an own key as JSON.parse makes it. */
const PLACES: { where: string; body: (name: string) => string; expression: (name: string) => string }[] = [
  {
    where: 'top level',
    body: (n) => `{"resourceType":"Observation","status":"final","code":{"text":"x"},"${n}":{"a":1}}`,
    expression: (n) => `Observation.${n}`,
  },
  {
    where: 'inside code',
    body: (n) => `{"resourceType":"Observation","status":"final","code":{"text":"x","${n}":"y"}}`,
    expression: (n) => `Observation.code.${n}`,
  },
  {
    where: 'in an array element, three levels down',
    body: (n) =>
      `{"resourceType":"Observation","status":"final","code":{"text":"x"},"component":[{"code":{"coding":[{"system":"urn:x","code":"c","${n}":true}]}}]}`,
    expression: (n) => `Observation.component[0].code.coding[0].${n}`,
  },
];

describe('hostile input: FHIR element names inherited from Object.prototype', function () {
  this.timeout(60_000);
  let token: string;
  const post = (body: string, method = 'POST', path = '/fhir/Observation') =>
    rawRequest(engine().url, { method, path, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' }, body });

  before(async () => {
    token = await engine().token('system/*.*', { clientId: 'hostile-le' });
  });

  it('the same Observation without an unknown element is created (201)', async () => {
    const a = await post('{"resourceType":"Observation","status":"final","code":{"text":"x"}}');
    expect(a.status, a.text).to.equal(201);
  });

  for (const place of PLACES) {
    for (const name of NAMES) {
      it(`${name} ${place.where} → 422 OperationOutcome, as foo gets`, async () => {
        const a = await post(place.body(name));
        expect({ status: a.status, kind: bodyKind(a.json) }, a.text).to.deep.equal({ status: 422, kind: 'OperationOutcome' });
        const issue = a.json.issue.find((i: { expression?: string[] }) => i.expression?.includes(place.expression(name)));
        expect(issue, a.text).to.not.equal(undefined);
        expect(issue.diagnostics).to.equal(`Invalid additional property "${name}"`);
      });
    }
  }

  it('__proto__ in an update (PUT) is refused too', async () => {
    const created = await post('{"resourceType":"Observation","status":"final","code":{"text":"x"}}');
    const id = created.json.id as string;
    const a = await post(`{"resourceType":"Observation","id":"${id}","status":"final","code":{"text":"x"},"__proto__":{"status":"x"}}`, 'PUT', `/fhir/Observation/${id}`);
    expect({ status: a.status, kind: bodyKind(a.json) }, a.text).to.deep.equal({ status: 422, kind: 'OperationOutcome' });
  });
});
