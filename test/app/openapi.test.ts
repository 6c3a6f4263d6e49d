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

describe('OpenAPI covers the routes', () => {
  it('every /api route the application registers is described with its method', async () => {
    const { createApp } = await import('../../src/app/http.js');
    const app = createApp(engine().ctx) as unknown as { router: { stack: Layer[] } };
    interface Layer {
      route?: { path: string | string[]; methods: Record<string, boolean> };
      handle?: { stack?: Layer[] };
      slash?: boolean;
    }
    const routes: { method: string; path: string }[] = [];
    const walk = (stack: Layer[]) => {
      for (const layer of stack) {
        if (layer.route) {
          for (const p of ([] as string[]).concat(layer.route.path)) {
            for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') routes.push({ method, path: p });
          }
        } else if (layer.handle?.stack && layer.slash !== false) walk(layer.handle.stack); // routers mounted at '/' (Agendash's own, under /admin/jobs, is skipped)
      }
    };
    walk(app.router.stack);
    const doc = (await (await fetch(`${engine().url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const apiRoutes = routes.filter((r) => r.path.startsWith('/api/'));
    expect(apiRoutes.length).to.be.greaterThan(20);
    const missing = apiRoutes
      .map((r) => ({ method: r.method, path: r.path.replace(/:([A-Za-z_]+)/g, '{$1}') }))
      .filter((r) => !doc.paths[r.path]?.[r.method]);
    expect(missing, JSON.stringify(missing)).to.deep.equal([]);
  });
});
