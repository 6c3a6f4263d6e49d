import { expect } from 'chai';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { engine } from '../support/harness.js';

describe('GET /api/openapi.json', () => {
  it('is an OpenAPI 3.1 document describing the non-FHIR routes, with schemas that compile', async () => {
    const res = await fetch(`${engine().url}/api/openapi.json`);
    expect(res.status).to.equal(200);
    const doc = ((await res.json()) as any);
    expect(doc.openapi).to.equal('3.1.0');
    for (const p of ['/healthz', '/readyz', '/metrics', '/api/jobs', '/api/jobs/{id}', '/api/jobs/{id}/rerun', '/admin/jobs/']) {
      expect(doc.paths, p).to.have.property(p);
    }
    // Every component schema is valid JSON Schema 2020-12 (the dialect of OpenAPI 3.1).
    const ajv = new Ajv2020({ strict: false });
    ajv.addFormat('date-time', true);
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      expect(() => ajv.compile(schema as object), name).to.not.throw();
    }
    // Every $ref points to a component that exists.
    const refs = JSON.stringify(doc).match(/"#\/components\/schemas\/[^"]+"/g) ?? [];
    for (const ref of refs) expect(doc.components.schemas).to.have.property(ref.slice(22, -1));
  });
});
