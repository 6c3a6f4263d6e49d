import { expect } from 'chai';
import { engine, type TestEngine } from '../support/harness.js';
import { call, colors, enc, uniqueName } from './helpers.js';

const BASE = 'https://hl7-engine.example/fhir';

function param(p: any, name: string): any {
  return p.parameter.find((x: any) => x.name === name);
}

describe('FHIR terminology over the dictionaries', () => {
  let e: TestEngine;
  let token: string;
  let writer: string;

  before(async () => {
    e = engine();
    token = await e.token('dictionaries:read');
    writer = await e.token('dictionaries:read dictionaries:write');
  });

  it('lists every dictionary as a CodeSystem (summary form) and finds one by canonical URL or alias', async () => {
    const r = await call(e, 'GET', '/fhir/CodeSystem', { token });
    expect(r.status).to.equal(200);
    expect(r.headers.get('content-type')).to.match(/application\/fhir\+json/);
    expect(r.body).to.include({ resourceType: 'Bundle', type: 'searchset' });
    const ids = r.body.entry.map((x: any) => x.resource.id);
    expect(ids).to.include.members(['icpc2', 'ehealth-icpc2-reasons', 'medication-unit', 'no-kodeverk-8116', 'providing-conditions']);
    expect(r.body.entry[0].resource.concept).to.equal(undefined);
    const byUrl = await call(e, 'GET', `/fhir/CodeSystem?url=${encodeURIComponent(`${BASE}/CodeSystem/icpc2`)}`, { token });
    expect(byUrl.body.total).to.equal(1);
    const byAlias = await call(e, 'GET', `/fhir/CodeSystem?url=${encodeURIComponent('http://hl7.org/fhir/sid/icpc-2')}`, { token });
    expect(byAlias.body.entry[0].resource.url).to.equal(`${BASE}/CodeSystem/icpc2`);
    const ehealth = await call(e, 'GET', `/fhir/CodeSystem?system=${encodeURIComponent('eHealth/resources')}`, { token });
    expect(ehealth.body.entry[0].resource.id).to.equal('ehealth-resources');
    const bad = await call(e, 'GET', '/fhir/CodeSystem?colour=red', { token });
    expect(bad.status).to.equal(400);
    expect(bad.body.resourceType).to.equal('OperationOutcome');
  });

  it('reads ICPC2 as a CodeSystem with chapters as not-selectable groups and three languages', async () => {
    const r = await call(e, 'GET', '/fhir/CodeSystem/icpc2', { token });
    expect(r.status).to.equal(200);
    const cs = r.body;
    expect(cs).to.include({ resourceType: 'CodeSystem', url: `${BASE}/CodeSystem/icpc2`, content: 'complete', version: '7.0', hierarchyMeaning: 'grouped-by' });
    expect(cs.count).to.equal(726 + 17);
    expect(cs.copyright).to.match(/WONCA/);
    expect(cs.identifier.map((i: any) => i.value)).to.include('http://hl7.org/fhir/sid/icpc-2');
    const chapterK = cs.concept.find((c: any) => c.code === 'K');
    expect(chapterK.property).to.deep.include({ code: 'notSelectable', valueBoolean: true });
    const k86 = chapterK.concept.find((c: any) => c.code === 'K86');
    expect(k86.display).to.equal('Hypertension uncomplicated');
    expect(k86.designation.map((d: any) => d.language)).to.deep.equal(['en', 'nb', 'uk']);
    const all = (list: any[]): any[] => list.flatMap((c) => [c, ...all(c.concept ?? [])]);
    expect(all(cs.concept).filter((c) => !c.property?.some((p: any) => p.code === 'notSelectable'))).to.have.length(726);
    const etag = r.headers.get('etag')!;
    const again = await fetch(`${e.url}/fhir/CodeSystem/icpc2`, { headers: { authorization: `Bearer ${token}`, 'if-none-match': etag } });
    expect(again.status).to.equal(304);
    const missing = await call(e, 'GET', '/fhir/CodeSystem/nope', { token });
    expect(missing.status).to.equal(404);
    expect(missing.body.issue[0].code).to.equal('not-found');
  });

  it('reads the all-codes ValueSet', async () => {
    const r = await call(e, 'GET', '/fhir/ValueSet/medication-unit', { token });
    expect(r.status).to.equal(200);
    expect(r.body).to.include({ resourceType: 'ValueSet', url: `${BASE}/ValueSet/medication-unit` });
    expect(r.body.compose).to.deep.equal({ inactive: false, include: [{ system: `${BASE}/CodeSystem/medication-unit`, version: '2019-06-12' }] });
    const x = await call(e, 'GET', `/fhir/ValueSet/$expand?url=${encodeURIComponent(`${BASE}/ValueSet/icpc2`)}&filter=hypert&count=5`, { token });
    expect(x.status).to.equal(200);
    expect(x.body.expansion.contains.map((c: any) => c.code)).to.include('K86');
  });

  it('$lookup by system and code (GET and POST), with display language and normalised process codes', async () => {
    const r = await call(e, 'GET', `/fhir/CodeSystem/$lookup?system=${encodeURIComponent('http://hl7.org/fhir/sid/icpc-2')}&code=K86&displayLanguage=nb`, { token });
    expect(r.status).to.equal(200);
    expect(param(r.body, 'display').valueString).to.equal('Hypertensjon ukomplisert');
    expect(r.body.parameter.filter((p: any) => p.name === 'designation')).to.have.length(3);
    const post = await call(e, 'POST', '/fhir/CodeSystem/$lookup', {
      token,
      type: 'application/fhir+json',
      body: { resourceType: 'Parameters', parameter: [{ name: 'coding', valueCoding: { system: `${BASE}/CodeSystem/icpc2`, code: 'K31' } }] },
    });
    expect(post.status, JSON.stringify(post.body)).to.equal(200);
    expect(param(post.body, 'code').valueCode).to.equal('-31');
    const inst = await call(e, 'GET', '/fhir/CodeSystem/no-kodeverk-8116/$lookup?code=FNR', { token });
    expect(param(inst.body, 'display').valueString).to.equal('Fødselsnummer');
    expect(param(inst.body, 'definition').valueString).to.equal('Norsk fødselsnummer');
    const unknown = await call(e, 'GET', '/fhir/CodeSystem/$lookup?system=urn:oid:2.16.578.1.12.4.1.1.8116&code=NOPE', { token });
    expect(unknown.status).to.equal(404);
    expect(unknown.body.resourceType).to.equal('OperationOutcome');
    const noSystem = await call(e, 'GET', '/fhir/CodeSystem/$lookup?code=A01', { token });
    expect(noSystem.status).to.equal(400);
    const notParameters = await call(e, 'POST', '/fhir/CodeSystem/$lookup', { token, type: 'application/fhir+json', body: { resourceType: 'Patient' } });
    expect(notParameters.status).to.equal(400);
  });

  it('$validate-code follows replacements and deactivations on the next request', async () => {
    const name = uniqueName();
    const created = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: colors(name) });
    expect(created.status).to.equal(201);
    const id = (await e.ctx.dictionaries.get(name))!.fhirId;
    const vsUrl = encodeURIComponent(`${BASE}/ValueSet/${id}`);
    const validate = async (code: string, extra = '') => {
      const r = await call(e, 'GET', `/fhir/ValueSet/$validate-code?url=${vsUrl}&code=${code}${extra}`, { token });
      expect(r.status, JSON.stringify(r.body)).to.equal(200);
      return r.body;
    };
    expect(param(await validate('BLUE'), 'result').valueBoolean).to.equal(true);
    expect(param(await validate('BLUE', `&system=${encodeURIComponent(`${BASE}/CodeSystem/${id}`)}&display=Blå`), 'result').valueBoolean).to.equal(true);
    const wrongDisplay = await validate('BLUE', '&display=Navy');
    expect(param(wrongDisplay, 'result').valueBoolean).to.equal(false);
    expect(param(wrongDisplay, 'message').valueString).to.match(/Navy/);

    await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: colors(name, { codes: [{ code: 'RED', display: { en: 'Red' } }, { code: 'GREEN', display: { en: 'Green' } }] }) });
    const replaced = await validate('BLUE');
    expect(param(replaced, 'result').valueBoolean).to.equal(false);
    expect(param(replaced, 'message').valueString).to.match(/Unknown code "BLUE"/);

    await call(e, 'PATCH', `/api/dictionaries/${enc(name)}/codes/GREEN`, { token: writer, body: { active: false } });
    const inactive = await validate('GREEN');
    expect(param(inactive, 'result').valueBoolean).to.equal(false);
    expect(param(inactive, 'message').valueString).to.match(/inactive/);
    expect(await e.ctx.dictionaries.isValidCode(name, 'GREEN')).to.equal(false);

    const post = await call(e, 'POST', `/fhir/ValueSet/${id}/$validate-code`, {
      token,
      type: 'application/fhir+json',
      body: {
        resourceType: 'Parameters',
        parameter: [{ name: 'codeableConcept', valueCodeableConcept: { coding: [{ system: 'http://example.org/other', code: 'X' }, { code: 'RED' }] } }],
      },
    });
    expect(param(post.body, 'result').valueBoolean).to.equal(true);
    const wrongSystem = await call(e, 'GET', `/fhir/ValueSet/$validate-code?url=${vsUrl}&code=RED&system=${encodeURIComponent('http://hl7.org/fhir/sid/icpc-2')}`, { token });
    expect(param(wrongSystem.body, 'result').valueBoolean).to.equal(false);
  });

  it('$validate-code on shipped value sets: ICPC-2 chapters are not codes; eHealth system names work', async () => {
    const icpc = encodeURIComponent(`${BASE}/ValueSet/icpc2`);
    const chapter = await call(e, 'GET', `/fhir/ValueSet/$validate-code?url=${icpc}&code=K`, { token });
    expect(param(chapter.body, 'result').valueBoolean).to.equal(false);
    const k31 = await call(e, 'GET', `/fhir/ValueSet/$validate-code?url=${icpc}&code=K31`, { token });
    expect(param(k31.body, 'result').valueBoolean).to.equal(true);
    const cs = await call(e, 'GET', `/fhir/CodeSystem/$validate-code?system=${encodeURIComponent('eHealth/resources')}&code=patient`, { token });
    expect(param(cs.body, 'result').valueBoolean).to.equal(true);
    const implicit = await call(e, 'GET', `/fhir/ValueSet/$validate-code?url=${encodeURIComponent('PROVIDING_CONDITION?vs')}&code=INPATIENT`, { token });
    expect(param(implicit.body, 'result').valueBoolean).to.equal(true);
    const unknown = await call(e, 'GET', `/fhir/ValueSet/$validate-code?url=${encodeURIComponent(`${BASE}/ValueSet/nope`)}&code=A`, { token });
    expect(unknown.status).to.equal(404);
    expect(unknown.body.issue[0].code).to.equal('not-found');
  });

  it('needs a token with dictionaries:read or a SMART read scope (errors as OperationOutcome)', async () => {
    const none = await call(e, 'GET', '/fhir/CodeSystem/icpc2');
    expect(none.status).to.equal(401);
    expect(none.body.resourceType).to.equal('OperationOutcome');
    const wrong = await call(e, 'GET', '/fhir/CodeSystem/icpc2', { token: await e.token('job:read') });
    expect(wrong.status).to.equal(403);
    expect(wrong.body.issue[0].code).to.equal('forbidden');
    const smart = await call(e, 'GET', '/fhir/ValueSet/icpc2', { token: await e.token('system/*.read') });
    expect(smart.status).to.equal(200);
  });
});
