import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { buildDictionaries } from '../../src/dictionaries/build/build.js';
import { normalizeIcpc2 } from '../../src/dictionaries/build/icpc2.js';
import { diffDictionaries } from '../../src/dictionaries/diff.js';
import { slugOf, type DictionaryFile } from '../../src/dictionaries/format.js';
import { isKnownLanguage, validateDictionary } from '../../src/dictionaries/schema.js';
import { listDictionaryFiles, readDictionaryFile } from '../../src/dictionaries/service.js';
import { decodeText, parseCsv } from '../../src/dictionaries/text.js';
import { engine } from '../support/harness.js';
import { sharedPath } from '../support/shared.js';

const doc = (codes: unknown[], extra: object = {}) => ({ name: 'T', version: '1', languages: ['en', 'uk'], codes, ...extra });

describe('Dictionary format, validation and text decoding', () => {
  it('every shipped file is valid, and ICPC2 has 726 codes with English titles', () => {
    const files = listDictionaryFiles(engine().config.dictionaries.dir);
    expect(files.length).to.be.at.least(25);
    for (const f of files) readDictionaryFile(f);
    const icpc2 = readDictionaryFile(files.find((f) => f.endsWith('/icpc2.json'))!);
    expect(icpc2.codes).to.have.length(726);
    expect(icpc2.codes.every((c) => c.display.en)).to.equal(true);
    expect(icpc2.codes.filter((c) => c.code.startsWith('-')).map((c) => c.code)).to.have.length(40);
    expect(new Set(icpc2.codes.filter((c) => c.parent).map((c) => c.parent)).size).to.equal(17);
    expect(icpc2.codes.filter((c) => c.properties?.component === '1' || c.properties?.component === '7')).to.have.length(686);
    expect(icpc2.codes.filter((c) => c.display.uk)).to.have.length(726);
    expect(icpc2.codes.filter((c) => c.display.nb)).to.have.length(686);
    expect(icpc2.attribution).to.match(/WONCA/);
  });

  it('the build script reproduces the committed files from the sources and prints counts per language', async function () {
    this.timeout(60_000);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'dict-build-'));
    const lines: string[] = [];
    try {
      const report = await buildDictionaries({ source: sharedPath('fixtures', 'dictionaries-source'), out, log: (l) => lines.push(l) });
      expect(lines.join('\n')).to.match(/ICPC2\s+726\s+en 726, nb 686, uk 726/);
      const shipped = engine().config.dictionaries.dir;
      for (const f of report.files) {
        const name = path.basename(f.file);
        expect(fs.readFileSync(path.join(out, name), 'utf8'), name).to.equal(fs.readFileSync(path.join(shipped, name), 'utf8'));
      }
      expect(fs.readdirSync(out).sort()).to.deep.equal(fs.readdirSync(shipped).sort());
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('validation: unique codes, non-empty displays, known languages, parents, declared properties', () => {
    expect(validateDictionary(doc([{ code: 'A', display: { en: 'a' } }])).valid).to.equal(true);
    const dup = validateDictionary(doc([{ code: 'A', display: { en: 'a' } }, { code: 'A', display: { uk: 'б' } }]));
    expect(dup.invalid[0]).to.deep.include({ entry: '$.codes[1].code' });
    const empty = validateDictionary(doc([{ code: 'A', display: {} }, { code: 'B', display: { en: '' } }]));
    expect(empty.invalid.map((i) => i.entry)).to.deep.equal(['$.codes[0].display', '$.codes[1].display.en']);
    const lang = validateDictionary(doc([{ code: 'A', display: { EN: 'a', nb: 'b' } }]));
    expect(lang.invalid.map((i) => i.entry)).to.include('$.codes[0].display.EN').and.include('$.codes[0].display.nb');
    expect(lang.valid).to.equal(false);
    const parent = validateDictionary(doc([{ code: 'A', display: { en: 'a' }, parent: 'Z' }]));
    expect(parent.invalid[0].rules[0].description).to.match(/parent "Z"/);
    const cycle = validateDictionary(doc([{ code: 'A', display: { en: 'a' }, parent: 'B' }, { code: 'B', display: { en: 'b' }, parent: 'A' }]));
    expect(cycle.invalid[0].rules[0].description).to.match(/cycle/);
    const prop = validateDictionary(doc([{ code: 'A', display: { en: 'a' }, properties: { colour: 'red' } }]));
    expect(prop.invalid[0].entry).to.equal('$.codes[0].properties.colour');
    const space = validateDictionary(doc([{ code: ' A', display: { en: 'a' } }]));
    expect(space.valid).to.equal(false);
    const notObject = validateDictionary(doc([null, 'x', { code: 'A', display: { en: 'a' } }]));
    expect(notObject.valid).to.equal(false);
    expect(isKnownLanguage('nb')).to.equal(true);
    expect(isKnownLanguage('en-GB')).to.equal(true);
    expect(isKnownLanguage('EN')).to.equal(false);
    expect(isKnownLanguage('xx')).to.equal(false);
  });

  it('diff: added, removed, changed fields, metadata', () => {
    const before = { meta: { name: 'T', version: '1', languages: ['en'] }, codes: [{ code: 'A', display: { en: 'a' }, active: true }, { code: 'B', display: { en: 'b' }, active: true }] };
    const after = { meta: { name: 'T', version: '2', languages: ['en'] }, codes: [{ code: 'A', display: { en: 'a' }, active: false }, { code: 'C', display: { en: 'c' }, active: true }] };
    const d = diffDictionaries(before, after);
    expect(d.added.map((c) => c.code)).to.deep.equal(['C']);
    expect(d.removed.map((c) => c.code)).to.deep.equal(['B']);
    expect(d.changed.map((c) => [c.code, c.fields])).to.deep.equal([['A', ['active']]]);
    expect(d.meta_changed).to.deep.equal(['version']);
  });

  it('decodes UTF-8 (with BOM), UTF-16 (BOM), declared Latin-1 / windows-1252; rejects undeclared Latin-1', () => {
    expect(decodeText(Buffer.from('\uFEFFRød', 'utf8'))).to.equal('Rød');
    expect(decodeText(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Blå', 'utf16le')]))).to.equal('Blå');
    expect(decodeText(Buffer.from('Blå', 'latin1'), 'iso-8859-1')).to.equal('Blå');
    expect(decodeText(Buffer.from([0x80, 0x99]), 'windows-1252')).to.equal('\u20ac\u2122');
    expect(() => decodeText(Buffer.from('Blå', 'latin1'))).to.throw(/not valid UTF-8 \(first invalid byte at offset 2\)/);
    expect(() => decodeText(Buffer.from('x'), 'no-such-charset')).to.throw(/Unsupported charset/);
  });

  it('parses CSV: delimiters, quotes, doubled quotes, newlines in quotes, CRLF, blank lines', () => {
    const rows = parseCsv('code;display\r\n"A;1";"say ""hi""\nthere"\r\n\r\nB;b\n');
    expect(rows.map((r) => [r.line, r.fields])).to.deep.equal([
      [1, ['code', 'display']],
      [2, ['A;1', 'say "hi"\nthere']],
      [5, ['B', 'b']],
    ]);
    expect(parseCsv('a\tb\n1\t2').map((r) => r.fields)).to.deep.equal([['a', 'b'], ['1', '2']]);
    expect(() => parseCsv('a,b\n"1,2\n')).to.throw(/line 2: unterminated/);
  });

  it('ICPC-2 process code forms and slugs', () => {
    expect(['*30', 'A30', 'K69', '-45', 'A29', 'A70', 'I30'].map(normalizeIcpc2)).to.deep.equal(['-30', '-30', '-69', '-45', 'A29', 'A70', 'I30']);
    expect(slugOf('eHealth/ICPC2/reasons')).to.equal('ehealth-icpc2-reasons');
    const f: DictionaryFile = { name: 'X', version: '1', languages: ['en'], codes: [] };
    expect(validateDictionary(f).invalid[0].rules[0].description).to.match(/at least one code/);
  });
});
