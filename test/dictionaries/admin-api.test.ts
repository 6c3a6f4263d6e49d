import { expect } from 'chai';
import { engine, type TestEngine } from '../support/harness.js';
import { call, colors, enc, uniqueName } from './helpers.js';

describe('Dictionaries admin API', () => {
  let e: TestEngine;
  let reader: string;
  let writer: string;

  before(async () => {
    e = engine();
    reader = await e.token('dictionaries:read');
    writer = await e.token('dictionaries:read dictionaries:write', { sub: 'dict-admin' });
  });

  async function revisionOf(name: string): Promise<{ revision: number; versions: number; codes: any[] }> {
    const r = await call(e, 'GET', `/api/dictionaries/${enc(name)}?page_size=1000`, { token: reader });
    expect(r.status, JSON.stringify(r.body)).to.equal(200);
    return { revision: r.body.data.revision, versions: r.body.data.versions.length, codes: r.body.data.codes };
  }

  async function create(name: string, doc: object = colors(name)) {
    const r = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: doc });
    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    return r;
  }

  describe('reading', () => {
    it('lists the shipped dictionaries with revisions, versions and counts', async () => {
      const r = await call(e, 'GET', '/api/dictionaries', { token: reader });
      expect(r.status).to.equal(200);
      expect(r.body.meta.type).to.equal('list');
      const byName = new Map<string, any>(r.body.data.map((d: any) => [d.name, d]));
      const icpc2 = byName.get('ICPC2');
      expect(icpc2.code_count).to.equal(726);
      expect(icpc2.language_counts.en).to.equal(726);
      expect(icpc2.languages).to.deep.equal(['en', 'nb', 'uk']);
      expect(icpc2.revision).to.be.a('number');
      expect(icpc2.versions[0]).to.include({ revision: icpc2.revision });
      for (const name of [
        'MEDICATION_UNIT',
        'SPECIALITY_TYPE',
        'TIMING_ABBREVIATION',
        'eHealth/ucum/units',
        'eHealth/resources',
        'eHealth/ICPC2/condition_codes',
        'eHealth/ICPC2/reasons',
        'eHealth/ICPC2/actions',
        'eHealth/ICD10/condition_codes',
        'eHealth/ICD10_AM/condition_codes',
        'eHealth/care_plan_activity_goals',
        'eHealth/care_plan_activity_cancel_reasons',
        'eHealth/care_plan_activity_outcomes',
        'PROVIDING_CONDITIONS',
        '8116',
        '8268',
      ]) {
        expect(byName.has(name), name).to.equal(true);
      }
      expect(byName.get('eHealth/ICD10_AM/condition_codes').starter).to.equal(true);
      expect(byName.get('PROVIDING_CONDITIONS').starter).to.equal(true);
    });

    it('ICPC2 holds 726 codes, each with an English title', async () => {
      const r = await call(e, 'GET', '/api/dictionaries/ICPC2?page_size=1000', { token: reader });
      expect(r.status).to.equal(200);
      expect(r.body.paging.total_entries).to.equal(726);
      expect(r.body.data.codes).to.have.length(726);
      for (const c of r.body.data.codes) expect(c.display.en, c.code).to.be.a('string').and.not.equal('');
      expect(r.body.data.attribution).to.match(/WONCA/).and.match(/Directorate of eHealth/);
      const a01 = r.body.data.codes.find((c: any) => c.code === 'A01');
      expect(a01.display).to.deep.equal({ en: 'Pain general/multiple sites', nb: 'Smerte generell/flere steder', uk: 'Біль загальний / множинної локалізації' });
    });

    it('pages and searches by code and display (case and accents ignored)', async () => {
      const p2 = await call(e, 'GET', '/api/dictionaries/ICPC2?page=2&page_size=10', { token: reader });
      expect(p2.body.data.codes).to.have.length(10);
      expect(p2.body.paging).to.deep.equal({ page_number: 2, page_size: 10, total_entries: 726, total_pages: 73 });
      const byCode = await call(e, 'GET', '/api/dictionaries/ICPC2?search=k8', { token: reader });
      expect(byCode.body.data.codes.map((c: any) => c.code)).to.include('K86').and.include('K87');
      const byDisplay = await call(e, 'GET', `/api/dictionaries/ICPC2?search=${encodeURIComponent('HYPERTENSION')}`, { token: reader });
      expect(byDisplay.body.data.codes.map((c: any) => c.code)).to.include('K86');
      const norwegian = await call(e, 'GET', `/api/dictionaries/ICPC2?search=${encodeURIComponent('HYPERTENSJON')}`, { token: reader });
      expect(norwegian.body.data.codes.map((c: any) => c.code)).to.include('K86');
      const ukrainian = await call(e, 'GET', `/api/dictionaries/ICPC2?search=${encodeURIComponent('ГІПЕРТОНІЯ НЕУСКЛАДНЕНА')}`, { token: reader });
      expect(ukrainian.body.data.codes.map((c: any) => c.code)).to.deep.equal(['K86']);
      const exact = await call(e, 'GET', '/api/dictionaries/ICPC2?code=-31', { token: reader });
      expect(exact.body.data.codes.map((c: any) => c.code)).to.deep.equal(['-31']);
      const bad = await call(e, 'GET', '/api/dictionaries/ICPC2?page_size=0', { token: reader });
      expect(bad.status).to.equal(422);
      expect(bad.body.error.invalid[0].entry).to.equal('$.page_size');
    });

    it('accepts names with slashes URL-encoded or as plain segments, and aliases', async () => {
      const encoded = await call(e, 'GET', `/api/dictionaries/${enc('eHealth/ICPC2/reasons')}?page_size=1`, { token: reader });
      const plain = await call(e, 'GET', '/api/dictionaries/eHealth/ICPC2/reasons?page_size=1', { token: reader });
      expect(encoded.status).to.equal(200);
      expect(plain.body.data.name).to.equal('eHealth/ICPC2/reasons');
      expect(encoded.body.data.code_count).to.equal(1318);
      const code = await call(e, 'GET', '/api/dictionaries/eHealth/ICPC2/reasons/codes/A31', { token: reader });
      expect(code.body.data).to.include({ code: 'A31', active: true });
      const alias = await call(e, 'GET', '/api/dictionaries/PROVIDING_CONDITION?page_size=5', { token: reader });
      expect(alias.body.data.name).to.equal('PROVIDING_CONDITIONS');
      expect(alias.body.data.codes.map((c: any) => c.code)).to.include.members(['INPATIENT', 'OUTPATIENT']);
    });

    it('normalises ICPC-2 process codes: K31 and *31 are -31', async () => {
      const k31 = await call(e, 'GET', '/api/dictionaries/ICPC2/codes/K31', { token: reader });
      expect(k31.status).to.equal(200);
      expect(k31.body.data).to.include({ code: '-31', requested: 'K31' });
      const star = await call(e, 'GET', `/api/dictionaries/ICPC2/codes/${enc('*31')}`, { token: reader });
      expect(star.body.data.code).to.equal('-31');
      expect(await e.ctx.dictionaries.isValidCode('ICPC2', 'K31')).to.equal(true);
      expect(await e.ctx.dictionaries.isValidCode('ICPC2', '*30')).to.equal(true);
      expect(await e.ctx.dictionaries.isValidCode('ICPC2', 'K30X')).to.equal(false);
      expect(await e.ctx.dictionaries.isValidCode('ICPC2', 'A')).to.equal(false); // a chapter is a group, not a code
      expect(await e.ctx.dictionaries.isValidCode('http://hl7.org/fhir/sid/icpc-2', 'A01')).to.equal(true);
      expect(await e.ctx.dictionaries.isValidCode('2.16.578.1.12.4.1.1.8116', 'FNR')).to.equal(true);
      expect((await e.ctx.dictionaries.getCode('eHealth/ICPC2/reasons', '-30'))?.code).to.equal('*30');
    });

    it('exports the whole dictionary in the file format', async () => {
      const r = await call(e, 'GET', '/api/dictionaries/MEDICATION_UNIT/export', { token: reader });
      expect(r.status).to.equal(200);
      expect(r.body).to.include({ name: 'MEDICATION_UNIT' });
      expect(r.body.codes).to.have.length(11);
      expect(r.body.codes[0]).to.have.keys('code', 'display', 'active');
    });

    it('answers 404 for unknown dictionaries and codes, 401/403 without token or scope', async () => {
      expect((await call(e, 'GET', '/api/dictionaries/NO_SUCH_THING', { token: reader })).status).to.equal(404);
      expect((await call(e, 'GET', '/api/dictionaries/ICPC2/codes/ZZZ', { token: reader })).status).to.equal(404);
      const anon = await call(e, 'GET', '/api/dictionaries');
      expect(anon.status).to.equal(401);
      const other = await call(e, 'GET', '/api/dictionaries/ICPC2', { token: await e.token('job:read') });
      expect(other.status).to.equal(403);
      expect(other.body.error.message).to.match(/dictionaries:read/);
      const put = await call(e, 'PUT', `/api/dictionaries/${enc(uniqueName())}`, { token: reader, body: colors('x') });
      expect(put.status).to.equal(403);
      expect(put.body.error.message).to.match(/dictionaries:write/);
    });
  });

  describe('replacing', () => {
    it('creates from JSON, then a dry run reports the diff and changes nothing, then the real replacement', async () => {
      const name = uniqueName();
      const created = await create(name);
      expect(created.body.data).to.include({ name, created: true, revision: 1, changed: true });
      expect(created.body.data.diff.summary).to.include({ added: 3, removed: 0, changed: 0 });

      const next = colors(name, {
        version: 'v2',
        codes: [
          { code: 'RED', display: { en: 'Red', nb: 'Rød' }, active: true },
          { code: 'GREEN', display: { en: 'Green (leaf)', nb: 'Grønn' }, active: true },
          { code: 'BLACK', display: { en: 'Black', nb: 'Svart' } },
        ],
      });
      const dry = await call(e, 'PUT', `/api/dictionaries/${enc(name)}?dry_run=true`, { token: writer, body: next });
      expect(dry.status).to.equal(200);
      expect(dry.body.data).to.include({ dry_run: true, changed: true, revision: null, from_revision: 1 });
      expect(dry.body.data.diff.summary).to.deep.equal({ added: 1, removed: 1, changed: 1, unchanged: 1, meta_changed: ['version'] });
      expect(dry.body.data.diff.added.map((c: any) => c.code)).to.deep.equal(['BLACK']);
      expect(dry.body.data.diff.removed.map((c: any) => c.code)).to.deep.equal(['BLUE']);
      expect(dry.body.data.diff.changed[0]).to.include({ code: 'GREEN' });
      expect(dry.body.data.diff.changed[0].fields).to.deep.equal(['display']);
      const still = await revisionOf(name);
      expect(still.revision).to.equal(1);
      expect(still.codes.map((c) => c.code)).to.include('BLUE');
      expect(await e.ctx.dictionaries.isValidCode(name, 'BLUE')).to.equal(true);

      const real = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: next });
      expect(real.status).to.equal(200);
      expect(real.headers.get('etag')).to.equal('"2"');
      expect(real.body.data).to.include({ dry_run: false, changed: true, revision: 2, from_revision: 1 });
      // The validator sees the replacement on the very next call.
      expect(await e.ctx.dictionaries.isValidCode(name, 'BLUE')).to.equal(false);
      expect(await e.ctx.dictionaries.isValidCode(name, 'BLACK')).to.equal(true);
      expect((await e.ctx.dictionaries.getCode(name, 'GREEN'))?.display.en).to.equal('Green (leaf)');
      const after = await revisionOf(name);
      expect(after.versions).to.equal(2);

      const same = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: next });
      expect(same.body.data).to.include({ changed: false, revision: 2 });
      expect((await revisionOf(name)).revision).to.equal(2);
    });

    it('replaces only the codes when the JSON leaves metadata out, with ?missing=deactivate keeping old codes inactive', async () => {
      const name = uniqueName();
      await create(name);
      const r = await call(e, 'PUT', `/api/dictionaries/${enc(name)}?missing=deactivate`, {
        token: writer,
        body: [{ code: 'RED', display: 'Red' }, { code: 'WHITE', display: { en: 'White', nb: 'Hvit' } }],
      });
      expect(r.status, JSON.stringify(r.body)).to.equal(200);
      const d = await e.ctx.dictionaries.get(name);
      expect(d!.meta.title).to.equal('Colours');
      expect(d!.codes.map((c) => `${c.code}:${c.active}`)).to.deep.equal(['RED:true', 'WHITE:true', 'GREEN:false', 'BLUE:false']);
      expect(d!.byCode.get('RED')!.display).to.deep.equal({ en: 'Red' });
    });

    it('replaces from CSV (UTF-8 with BOM, semicolons, quotes, languages per column)', async () => {
      const name = uniqueName();
      await create(name);
      const csv = '\uFEFFcode;display_en;display_nb;active\r\nRED;Red;Rød;true\r\n"YEL;LOW";"Yellow, ""sunny""";Gul;\r\nGREEN;Green;Grønn;false\r\n';
      const r = await call(e, 'PUT', `/api/dictionaries/${enc(name)}?version=csv-1`, { token: writer, body: csv, type: 'text/csv' });
      expect(r.status, JSON.stringify(r.body)).to.equal(200);
      expect(r.body.data.diff.summary).to.include({ added: 1, removed: 1, changed: 1 });
      const d = await e.ctx.dictionaries.get(name);
      expect(d!.meta.version).to.equal('csv-1');
      expect(d!.byCode.get('YEL;LOW')!.display).to.deep.equal({ en: 'Yellow, "sunny"', nb: 'Gul' });
      expect(d!.byCode.get('RED')!.display.nb).to.equal('Rød');
      expect(await e.ctx.dictionaries.isValidCode(name, 'GREEN')).to.equal(false);
    });

    it('replaces from an ISO-8859-1 CSV declared with charset', async () => {
      const name = uniqueName();
      await create(name);
      const bytes = Buffer.from('code,display_nb,display_en\nRED,Rød,Red\nBLUE,Blå,Blue\nSTRAW,Jordbær,Strawberry\n', 'latin1');
      expect(bytes.includes(0xf8)).to.equal(true); // ø as one Latin-1 byte
      const r = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: bytes, type: 'text/csv; charset=ISO-8859-1' });
      expect(r.status, JSON.stringify(r.body)).to.equal(200);
      expect((await e.ctx.dictionaries.getCode(name, 'STRAW'))?.display).to.deep.equal({ nb: 'Jordbær', en: 'Strawberry' });
      expect((await e.ctx.dictionaries.getCode(name, 'BLUE'))?.display.nb).to.equal('Blå');
      const winBytes = Buffer.concat([Buffer.from('code,display_en\nEURO,Euro '), Buffer.from([0x80]), Buffer.from(' sign\n')]);
      const w = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: winBytes, type: 'text/csv; charset=windows-1252' });
      expect(w.status, JSON.stringify(w.body)).to.equal(200);
      expect((await e.ctx.dictionaries.getCode(name, 'EURO'))?.display.en).to.equal('Euro \u20ac sign');
    });

    it('rolls back to the previous version, and further back on the next rollback', async () => {
      const name = uniqueName();
      await create(name);
      const v2 = colors(name, { version: 'v2', codes: [{ code: 'RED', display: { en: 'Red' } }] });
      await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: v2 });
      const v3 = colors(name, { version: 'v3', codes: [{ code: 'PINK', display: { en: 'Pink' } }] });
      await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: v3 });
      expect(await e.ctx.dictionaries.isValidCode(name, 'PINK')).to.equal(true);

      const dry = await call(e, 'POST', `/api/dictionaries/${enc(name)}/rollback?dry_run=true`, { token: writer });
      expect(dry.status).to.equal(200);
      expect(dry.body.data).to.include({ dry_run: true, rolled_back_to: 2, revision: null });
      expect((await revisionOf(name)).revision).to.equal(3);

      const r1 = await call(e, 'POST', `/api/dictionaries/${enc(name)}/rollback`, { token: writer });
      expect(r1.status, JSON.stringify(r1.body)).to.equal(200);
      expect(r1.body.data).to.include({ revision: 4, rolled_back_to: 2, from_revision: 3 });
      expect(await e.ctx.dictionaries.isValidCode(name, 'PINK')).to.equal(false);
      expect(await e.ctx.dictionaries.isValidCode(name, 'RED')).to.equal(true);
      expect((await e.ctx.dictionaries.get(name))!.meta.version).to.equal('v2');

      const r2 = await call(e, 'POST', `/api/dictionaries/${enc(name)}/rollback`, { token: writer });
      expect(r2.body.data).to.include({ revision: 5, rolled_back_to: 1 });
      expect(await e.ctx.dictionaries.isValidCode(name, 'BLUE')).to.equal(true);

      const none = await call(e, 'POST', `/api/dictionaries/${enc(name)}/rollback`, { token: writer });
      expect(none.status).to.equal(409);
      const to3 = await call(e, 'POST', `/api/dictionaries/${enc(name)}/rollback`, { token: writer, body: { revision: 3 } });
      expect(to3.body.data).to.include({ revision: 6, rolled_back_to: 3 });
      expect(await e.ctx.dictionaries.isValidCode(name, 'PINK')).to.equal(true);
      const versions = await call(e, 'GET', `/api/dictionaries/${enc(name)}/versions`, { token: reader });
      expect(versions.body.data.map((v: any) => `${v.revision}:${v.action}`)).to.deep.equal(['6:rollback', '5:rollback', '4:rollback', '3:replace', '2:replace', '1:create']);
      const old = await call(e, 'GET', `/api/dictionaries/${enc(name)}/export?revision=2`, { token: reader });
      expect(old.body.codes.map((c: any) => c.code)).to.deep.equal(['RED']);
    });

    it('deactivates a code with PATCH or POST …/deactivate; the validator rejects it on the next call', async () => {
      const name = uniqueName();
      await create(name);
      const p = await call(e, 'PATCH', `/api/dictionaries/${enc(name)}/codes/GREEN`, { token: writer, body: { active: false } });
      expect(p.status, JSON.stringify(p.body)).to.equal(200);
      expect(p.body.data).to.include({ revision: 2, changed: true });
      expect(await e.ctx.dictionaries.isValidCode(name, 'GREEN')).to.equal(false);
      expect((await e.ctx.dictionaries.getCode(name, 'GREEN'))?.active).to.equal(false);
      const again = await call(e, 'POST', `/api/dictionaries/${enc(name)}/codes/GREEN/deactivate`, { token: writer });
      expect(again.body.data).to.include({ revision: 2, changed: false });
      const blue = await call(e, 'POST', `/api/dictionaries/${name}/codes/BLUE/deactivate`, { token: writer });
      expect(blue.body.data.revision).to.equal(3);
      const on = await call(e, 'POST', `/api/dictionaries/${enc(name)}/codes/GREEN/activate`, { token: writer });
      expect(on.body.data.revision).to.equal(4);
      expect(await e.ctx.dictionaries.isValidCode(name, 'GREEN')).to.equal(true);
      const missing = await call(e, 'PATCH', `/api/dictionaries/${enc(name)}/codes/NOPE`, { token: writer, body: { active: false } });
      expect(missing.status).to.equal(404);
      const bad = await call(e, 'PATCH', `/api/dictionaries/${enc(name)}/codes/RED`, { token: writer, body: { display: 'x' } });
      expect(bad.status).to.equal(422);
    });

    it('refuses a change based on another revision (If-Match) with 409', async () => {
      const name = uniqueName();
      await create(name);
      const r = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: colors(name, { version: 'x' }), headers: { 'if-match': '"7"' } });
      expect(r.status).to.equal(409);
      expect(r.body.error).to.include({ type: 'request_conflict', current_revision: 1 });
      const ok = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: colors(name, { version: 'x' }), headers: { 'if-match': '"1"' } });
      expect(ok.status).to.equal(200);
    });
  });

  describe('bad uploads get a clear 4xx and change nothing', () => {
    let name: string;
    let before: { revision: number; versions: number; codes: any[] };

    beforeEach(async () => {
      name = uniqueName();
      await create(name);
      before = await revisionOf(name);
    });

    afterEach(async () => {
      const after = await revisionOf(name);
      expect(after).to.deep.equal(before);
      expect(await e.ctx.dictionaries.isValidCode(name, 'BLUE')).to.equal(true);
    });

    it('duplicate codes (JSON) → 422 naming the duplicate', async () => {
      const doc = colors(name, { codes: [...colors(name).codes, { code: 'RED', display: { en: 'Red again' } }] });
      const r = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: doc });
      expect(r.status).to.equal(422);
      expect(r.body.error.type).to.equal('validation_failed');
      expect(r.body.error.invalid[0]).to.deep.include({ entry: '$.codes[3].code' });
      expect(r.body.error.invalid[0].rules[0]).to.include({ rule: 'unique' });
      expect(r.body.error.invalid[0].rules[0].description).to.match(/duplicate code "RED"/);
    });

    it('duplicate codes (CSV) → 422 naming the line', async () => {
      const r = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: 'code,display_en\nA,a\nB,b\nA,again\n', type: 'text/csv' });
      expect(r.status).to.equal(422);
      expect(r.body.error.invalid[0]).to.include({ entry_type: 'csv_line', entry: 'line 4 (code)' });
    });

    it('empty body → 400; header-only CSV → 422; whitespace JSON → 400', async () => {
      const empty = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: '', type: 'text/csv' });
      expect(empty.status).to.equal(400);
      expect(empty.body.error.type).to.equal('request_malformed');
      const header = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: 'code,display\n', type: 'text/csv' });
      expect(header.status).to.equal(422);
      expect(header.body.error.invalid[0]).to.include({ entry: '$.codes' });
      const blank = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: '  \n', type: 'application/json' });
      expect(blank.status).to.equal(400);
      const noCodes = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: { codes: [] } });
      expect(noCodes.status).to.equal(422);
    });

    it('Latin-1 bytes without a declared charset → 400 request_malformed', async () => {
      const bytes = Buffer.from('code,display_nb\nRED,Rød\n', 'latin1');
      const r = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: bytes, type: 'text/csv' });
      expect(r.status).to.equal(400);
      expect(r.body.error.type).to.equal('request_malformed');
      expect(r.body.error.message).to.match(/not valid UTF-8.*offset 21.*charset=ISO-8859-1/);
      const declaredUtf8 = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: bytes, type: 'text/csv; charset=utf-8' });
      expect(declaredUtf8.status).to.equal(400);
      const unknownCharset = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: bytes, type: 'text/csv; charset=x-klingon' });
      expect(unknownCharset.status).to.equal(415);
    });

    it('blank display, unknown language, unknown column, bad JSON, wrong media type → 4xx', async () => {
      const blank = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: colors(name, { codes: [{ code: 'X', display: { en: '  ' } }] }) });
      expect(blank.status).to.equal(422);
      expect(blank.body.error.invalid[0].entry).to.equal('$.codes[0].display.en');
      const lang = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: colors(name, { languages: ['en', 'xx'] }) });
      expect(lang.status).to.equal(422);
      expect(lang.body.error.invalid.map((i: any) => i.entry)).to.include('$.languages[1]');
      const csvLang = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: 'code,display_klingon\nA,a\n', type: 'text/csv' });
      expect(csvLang.status).to.equal(422);
      const col = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: 'code,display,colour\nA,a,red\n', type: 'text/csv' });
      expect(col.status).to.equal(422);
      expect(col.body.error.invalid[0].rules[0].description).to.match(/unknown column/);
      const json = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: '{"codes": [', type: 'application/json' });
      expect(json.status).to.equal(400);
      expect(json.body.error.type).to.equal('request_malformed');
      const media = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: '<x/>', type: 'application/xml' });
      expect(media.status).to.equal(415);
      const quote = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: 'code,display\n"A,a\n', type: 'text/csv' });
      expect(quote.status).to.equal(400);
      const other = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: colors('SOMETHING_ELSE') });
      expect(other.status).to.equal(422);
    });

    it('a 50 MB body → 413', async function () {
      this.timeout(60_000);
      const big = Buffer.alloc(50 * 1024 * 1024, 0x61);
      const r = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: big, type: 'text/csv' });
      expect(r.status).to.equal(413);
      expect(r.body.error.type).to.equal('request_entity_too_large');
      const json = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writer, body: big, type: 'application/json' });
      expect(json.status).to.equal(413);
    });
  });

  it('rejects invalid names', async () => {
    const r = await call(e, 'PUT', `/api/dictionaries/${enc('bad name')}`, { token: writer, body: colors('bad name') });
    expect(r.status).to.equal(422);
    const reserved = await call(e, 'PUT', `/api/dictionaries/${enc('TEST/codes/x')}`, { token: writer, body: colors('TEST/codes/x') });
    expect(reserved.status).to.equal(422);
    const alias = await call(e, 'PUT', '/api/dictionaries/PROVIDING_CONDITION', { token: writer, body: colors('PROVIDING_CONDITION') });
    expect(alias.status).to.equal(409);
  });
});
