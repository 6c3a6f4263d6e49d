import { expect } from 'chai';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { cancelSchema, finishSchema } from '../../src/consultations/schemas.js';
import { engine } from '../support/harness.js';

describe('consultations: OpenAPI fragment', () => {
  it('documents every consultation route with the schemas the routes validate with', async () => {
    const doc = (await (await fetch(`${engine().url}/api/openapi.json`)).json()) as any;
    const expected: Record<string, string[]> = {
      '/api/consultations': ['get', 'post'],
      '/api/consultations/metrics': ['get'],
      '/api/consultations/{id}': ['get'],
      '/api/consultations/{id}/pick': ['post'],
      '/api/consultations/{id}/assign': ['post'],
      '/api/consultations/{id}/start': ['post'],
      '/api/consultations/{id}/notify': ['post'],
      '/api/consultations/{id}/finish': ['post'],
      '/api/consultations/{id}/cancel': ['post'],
      '/api/consultations/reports': ['get', 'post'],
      '/api/consultations/reports/{id}': ['get'],
      '/api/consultations/reports/{id}/download': ['get'],
      '/api/consultations/events': ['get'],
      '/api/consultations/patients/{patient_id}/history': ['get'],
      '/api/consultations/bookings': ['post'],
    };
    for (const [p, methods] of Object.entries(expected)) {
      expect(doc.paths, p).to.have.property(p);
      for (const m of methods) expect(doc.paths[p], `${m} ${p}`).to.have.property(m);
    }
    expect(doc.paths['/api/consultations/{id}/assign'].post.security).to.deep.equal([{ bearer: ['consultations:supervise'] }]);
    expect(doc.paths['/api/consultations/bookings'].post.security).to.deep.equal([{ bearer: ['consultations:book'] }]);
    expect(doc.paths['/api/consultations/events'].get.responses['200'].content).to.have.property('text/event-stream');
    expect(doc.components.schemas.FinishConsultation).to.deep.equal(JSON.parse(JSON.stringify(finishSchema)));
    expect(doc.components.schemas.CancelConsultation).to.deep.equal(JSON.parse(JSON.stringify(cancelSchema)));
    const ajv = new Ajv2020({ strict: false });
    ajv.addFormat('date-time', true);
    const validate = ajv.compile(doc.components.schemas.FinishConsultation);
    expect(validate({ icpc2: 'R74', outcome: 'helped' })).to.equal(true);
    expect(validate({ icpc2: 'R74', outcome: 'cured' })).to.equal(false);
  });
});
