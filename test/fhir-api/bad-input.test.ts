import { expect } from 'chai';
import { engine } from '../support/harness.js';

/** Malformed FHIR input answers 400 with an OperationOutcome, never 500. */
describe('FHIR: malformed input is a 400 OperationOutcome', () => {
  async function call(method: string, path: string, body: unknown) {
    const e = engine();
    const token = await e.token('system/*.read system/*.write dictionaries:read');
    const res = await fetch(`${e.url}/fhir${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { resourceType?: string } };
  }

  it('an update whose id is not a string', async () => {
    const r = await call('PUT', '/Task/abc', { resourceType: 'Task', id: 5, status: 'draft', intent: 'order' });
    expect(r.status).to.equal(400);
    expect(r.body.resourceType).to.equal('OperationOutcome');
  });

  it('Parameters whose parameter is not an array', async () => {
    const r = await call('POST', '/ValueSet/$expand', { resourceType: 'Parameters', parameter: { name: 'url', valueUri: 'x' } });
    expect(r.status).to.equal(400);
    expect(r.body.resourceType).to.equal('OperationOutcome');
  });

  it('$lookup with a code that is not a string', async () => {
    const r = await call('POST', '/CodeSystem/$lookup', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'system', valueUri: 'http://hl7.org/fhir/sid/icpc-2' },
        { name: 'coding', valueCoding: { system: 'http://hl7.org/fhir/sid/icpc-2', code: 5 } },
      ],
    });
    expect(r.status).to.be.within(400, 404);
    expect(r.body.resourceType).to.equal('OperationOutcome');
  });
});
