/**
 * Conformance of what the engine emits: the HL7 FHIR R4 JSON schema (schemas/fhir) over every emitting route (metadata,
 * StructureDefinition, terminology operations, OperationOutcome, search Bundles), the engine's extension definitions,
 * and the repository refusing what the schema refuses (a dateTime with a time but no zone) with a 422.
 */
import { expect } from 'chai';
import { schemaIssues } from '../../src/fhir-store/json-schema.js';
import { ENGINE_EXTENSIONS, extensionUrl } from '../../src/lib/fhir-extensions.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { discardEmitted, emittedResources, firstInvalid } from '../support/emitted.js';
import { engine } from '../support/harness.js';
import { raw } from './support.js';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };

function expectSchemaValid(resource: unknown, label: string): void {
  expect(schemaIssues(resource), label).to.deep.equal([]);
}

describe('FHIR conformance of what the engine emits (R4 JSON schema)', () => {
  describe('the R4 JSON schema check itself', () => {
    it('refuses a dateTime with a time but no zone, and accepts it with its offset', () => {
      const withoutZone = { resourceType: 'Patient', extension: [{ url: extensionUrl('source-message'), extension: [{ url: 'sent', valueDateTime: '2019-01-24T13:42:21' }] }] };
      expect(schemaIssues(withoutZone)[0]?.path).to.equal('/extension/0/extension/0/valueDateTime');
      withoutZone.extension[0].extension[0].valueDateTime = '2019-01-24T13:42:21+01:00';
      expect(schemaIssues(withoutZone)).to.deep.equal([]);
    });

    it('refuses unknown properties, unknown resource types, empty arrays, empty objects and nulls', () => {
      expect(schemaIssues({ resourceType: 'Patient', colour: 'red' })[0].message).to.include("unknown property 'colour'");
      expect(schemaIssues({ resourceType: 'Patientt' })[0].message).to.include('unknown resource type');
      expect(schemaIssues({ resourceType: 'Bundle', type: 'searchset', entry: [] })).to.deep.equal([{ path: '/entry', message: 'empty array (FHIR JSON leaves the property out)' }]);
      expect(schemaIssues({ resourceType: 'Patient', name: [{}] })[0].path).to.equal('/name/0');
      expect(schemaIssues({ resourceType: 'Patient', gender: null })[0].path).to.equal('/gender');
      expect(schemaIssues({ resourceType: 'Patient', name: [{ given: ['Kari', null] }] })[0].path).to.equal('/name/0/given/1');
    });
  });

  it('the run-wide collector keeps FHIR answers and names the request, pointer and error of an invalid one', async () => {
    const server = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/fhir+json');
      res.end(JSON.stringify({ resourceType: 'Patient', id: 'probe', birthDate: '2019-01-24T13:42:21' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      await (await fetch(`http://127.0.0.1:${port}/collector-probe`)).json();
      const mine = (await emittedResources()).filter((e) => e.source === 'GET /collector-probe');
      expect(mine.map((e) => e.resource)).to.deep.equal([{ resourceType: 'Patient', id: 'probe', birthDate: '2019-01-24T13:42:21' }]);
      expect(firstInvalid(mine)).to.match(/^The engine answered invalid FHIR to GET \/collector-probe: Patient\/probe at \/birthDate: /);
    } finally {
      await discardEmitted((e) => e.source === 'GET /collector-probe');
      await new Promise((resolve) => server.close(resolve));
    }
    expect((await emittedResources()).some((e) => e.source === 'GET /collector-probe')).to.equal(false);
  });

  it('refuses to store a resource with a zone-less dateTime: 422 naming the element', async () => {
    const r = await raw('/CarePlan', {
      method: 'POST',
      body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: 'Patient/x' }, created: '2024-05-01T10:00:00' },
    });
    expect(r.status).to.equal(422);
    expect(r.body.resourceType).to.equal('OperationOutcome');
    expect(JSON.stringify(r.body.issue)).to.include('CarePlan.created');
    const ok = await raw('/CarePlan', {
      method: 'POST',
      body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: 'Patient/x' }, created: '2024-05-01T10:00:00+02:00' },
    });
    expect(ok.status).to.equal(201);
  });

  it('serves a StructureDefinition for every engine extension, and the CapabilityStatement lists them', async () => {
    const all = await raw('/StructureDefinition');
    expect(all.status).to.equal(200);
    expectSchemaValid(all.body, 'StructureDefinition search');
    expect(all.body.total).to.equal(ENGINE_EXTENSIONS.length);
    for (const def of ENGINE_EXTENSIONS) {
      const r = await raw(`/StructureDefinition/${def.id}`);
      expect(r.status, def.id).to.equal(200);
      expectSchemaValid(r.body, def.id);
      expect(r.body).to.include({ url: `https://hl7-engine.dev/fhir/StructureDefinition/${def.id}`, type: 'Extension', derivation: 'constraint', fhirVersion: '4.0.1' });
      const url = r.body.differential.element.find((e: { id: string }) => e.id === 'Extension.url');
      expect(url.fixedUri).to.equal(r.body.url);
    }
    const byUrl = await raw(`/StructureDefinition?url=${encodeURIComponent(extensionUrl('source-message'))}`);
    expect(byUrl.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).to.deep.equal(['source-message']);
    const none = await raw('/StructureDefinition?url=urn:nothing');
    expect(none.body).to.include({ total: 0 });
    expect(none.body.entry).to.equal(undefined);
    expect((await raw('/StructureDefinition/nothing-here')).status).to.equal(404);
    expect((await raw('/StructureDefinition/source-message', { scope: 'system/Patient.read' })).status).to.equal(403);

    const meta = await raw('/metadata');
    expectSchemaValid(meta.body, 'CapabilityStatement');
    const sd = meta.body.rest[0].resource.find((x: { type: string }) => x.type === 'StructureDefinition');
    expect(sd.interaction.map((i: { code: string }) => i.code)).to.deep.equal(['read', 'search-type']);
    for (const def of ENGINE_EXTENSIONS) expect(sd.documentation).to.include(def.id);
  });

  it('an empty search answers a Bundle without entry (FHIR JSON has no empty arrays)', async () => {
    const r = await raw('/Patient?family=NoSuchFamilyNameAnywhere');
    expect(r.status).to.equal(200);
    expect(r.body).to.include({ resourceType: 'Bundle', total: 0 });
    expect(r.body).not.to.have.property('entry');
    expectSchemaValid(r.body, 'empty searchset');
  });

  describe('terminology', () => {
    let token: string;
    const get = async (path: string) => {
      const res = await fetch(`${engine().url}/fhir${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as any };
    };
    before(async () => {
      token = await engine().token('dictionaries:read');
    });

    it('search results are the summary form: SUBSETTED, content not-present, no concepts; the full read carries them', async () => {
      const r = await get('/CodeSystem');
      expect(r.status).to.equal(200);
      expectSchemaValid(r.body, 'CodeSystem search');
      expect(r.body.entry.length).to.be.greaterThan(0);
      for (const { resource: cs } of r.body.entry) {
        expect(cs.meta.tag, cs.id).to.deep.include({ ...SUBSETTED, display: 'subsetted' });
        expect(cs.content, cs.id).to.equal('not-present');
        expect(cs.concept, cs.id).to.equal(undefined);
        expect(cs.count, cs.id).to.be.a('number');
      }
      const summary = await get('/CodeSystem/icpc2?_summary=true');
      expectSchemaValid(summary.body, 'CodeSystem _summary=true');
      expect(summary.body.content).to.equal('not-present');
      expect(summary.body.meta.tag).to.deep.include({ ...SUBSETTED, display: 'subsetted' });
      const full = await get('/CodeSystem/icpc2');
      expectSchemaValid(full.body, 'CodeSystem');
      expect(full.body.content).to.equal('complete');
      expect(full.body.meta.tag ?? []).not.to.deep.include({ ...SUBSETTED, display: 'subsetted' });
      const concepts = (list: { concept?: unknown[] }[]): number => list.reduce((n, c) => n + 1 + concepts((c.concept ?? []) as never), 0);
      expect(concepts(full.body.concept)).to.equal(full.body.count);
      const complete = await get('/CodeSystem?_summary=false&_id=icpc2');
      expect(complete.body.entry[0].resource.content).to.equal('complete');
      const empty = await get('/CodeSystem?_id=no-such-dictionary');
      expect(empty.body.entry).to.equal(undefined);
      expectSchemaValid(empty.body, 'empty CodeSystem search');
    });

    it('$lookup, $validate-code, $expand and ValueSet answers are valid R4', async () => {
      const icpc = encodeURIComponent('http://hl7.org/fhir/sid/icpc-2');
      const vs = encodeURIComponent('https://hl7-engine.example/fhir/ValueSet/icpc2');
      for (const path of [
        `/CodeSystem/$lookup?system=${icpc}&code=L88`,
        `/CodeSystem/$validate-code?system=${icpc}&code=L88`,
        `/CodeSystem/$validate-code?system=${icpc}&code=NOPE`,
        `/ValueSet/$validate-code?url=${vs}&code=L88`,
        `/ValueSet/$expand?url=${vs}&count=5`,
        '/ValueSet/icpc2',
        '/ValueSet',
        `/CodeSystem/$lookup?system=${icpc}&code=NOPE`,
      ]) {
        const r = await get(path);
        expect(r.status, path).to.be.oneOf([200, 404]);
        expectSchemaValid(r.body, path);
      }
    });
  });
});
