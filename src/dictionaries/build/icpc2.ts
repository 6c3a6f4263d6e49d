/**
 * ICPC-2 from three sources:
 *   - English (all 726 codes: 686 rubrics of components 1 and 7 in 17 chapters + 40 process codes -30…-69) and the
 *     notes (inclusion, exclusion, criteria, consider, note, ICD-10 map) from the ICPC-2e v7.0 workbook;
 *   - chapter titles (English) from the FinnGen merge CSV (rows whose code is a single letter);
 *   - Norwegian titles from navikt/diagnosekoder ICPC2.json (symptoms and diagnoses; no process codes);
 *   - Ukrainian titles from the eHealth dictionaries `eHealth/ICPC2/condition_codes`, `…/reasons`, `…/actions`, which
 *     write process codes per chapter (`A31`) or chapter-less with `*` (`*30`): all normalised to `-30`.
 * Also the Norwegian code list 7170 (ICPC-2 as NAV publishes it: 708 codes incl. Norwegian additions such as R991).
 */
import fs from 'node:fs';
import ExcelJS from 'exceljs';
import type { DictionaryCode, DictionaryFile, DictionaryGroup } from '../format.js';
import { parseCsv } from '../text.js';
import { ICPC2_CHAPTERS_FILE, ICPC2_EN_FILE, ICPC2_NO_FILE, UA_EHEALTH_FILE, fileRefs, readEhealth, sourceFile, type SourceDir } from './sources.js';

const ICPC2_CHAPTERS = 'ABDFHKLNPRSTUWXYZ';

const COMPONENTS: Record<string, string> = {
  '1': 'Symptoms and complaints',
  '2': 'Diagnostic, screening and prevention',
  '3': 'Medication, treatment and procedures',
  '4': 'Test results',
  '5': 'Administrative',
  '6': 'Referrals and other reasons for encounter',
  '7': 'Diagnosis/disease',
};

/** Component of an ICPC-2 rubric number: 01–29 → 1, 30–49 → 2, 50–59 → 3, 60–61 → 4, 62 → 5, 63–69 → 6, 70–99 → 7. */
function componentOf(code: string): string {
  const n = Number(code.slice(-2));
  if (n < 30) return '1';
  if (n < 50) return '2';
  if (n < 60) return '3';
  if (n < 62) return '4';
  if (n === 62) return '5';
  if (n < 70) return '6';
  return '7';
}

/** `*30`, `A30`, `-30` → `-30` for process codes (30–69); other codes unchanged. */
export function normalizeIcpc2(code: string): string {
  const m = /^([A-Z*-])(\d\d)$/.exec(code);
  if (!m) return code;
  const n = Number(m[2]);
  return n >= 30 && n < 70 && (m[1] === '*' || m[1] === '-' || ICPC2_CHAPTERS.includes(m[1])) ? `-${m[2]}` : code;
}

const NORMALIZE_RULE = {
  pattern: `^[${ICPC2_CHAPTERS}*](3\\d|4\\d|5\\d|6\\d)$`,
  replace: '-$1',
  description: 'Process codes written per chapter (A30…Z69) or chapter-less with * (eHealth: *30) are the process code -30…-69',
};

function cellText(v: ExcelJS.CellValue): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v.trim() || undefined;
  if (typeof v === 'object' && 'richText' in v) return v.richText.map((r) => r.text).join('').trim() || undefined;
  if (typeof v === 'object' && 'text' in v) return String(v.text).trim() || undefined;
  return String(v).trim() || undefined;
}

interface EnglishRow {
  code: string;
  title: string;
  notes: Record<string, string>;
}

async function readEnglish(src: SourceDir): Promise<EnglishRow[]> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(sourceFile(src, ICPC2_EN_FILE));
  const ws = wb.worksheets[0];
  const header = (ws.getRow(1).values as ExcelJS.CellValue[]).map((v) => cellText(v) ?? '');
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${ICPC2_EN_FILE}: column "${name}" not found (header: ${header.join(', ')})`);
    return i;
  };
  const cols = {
    code: col('Code'),
    preferred: col('preferred'),
    short_title: col('shortTitle'),
    inclusion: col('inclusion'),
    exclusion: col('exclusion'),
    criteria: col('criteria'),
    consider: col('consider'),
    note: col('note'),
    icd10: col('icd10'),
  };
  const rows: EnglishRow[] = [];
  ws.eachRow((row, n) => {
    if (n === 1) return;
    const raw = row.getCell(cols.code).value;
    // Process codes are stored as numbers (-30); rubrics as strings (A01).
    const code = typeof raw === 'number' ? String(raw) : cellText(raw);
    if (!code) return;
    const title = cellText(row.getCell(cols.preferred).value);
    if (!title) throw new Error(`${ICPC2_EN_FILE}: row ${n} (${code}) has no title`);
    const notes: Record<string, string> = {};
    for (const key of ['short_title', 'inclusion', 'exclusion', 'criteria', 'consider', 'note', 'icd10'] as const) {
      const t = cellText(row.getCell(cols[key]).value);
      if (t) notes[key] = t;
    }
    rows.push({ code, title, notes });
  });
  return rows;
}

function readChapters(src: SourceDir): Map<string, string> {
  const rows = parseCsv(fs.readFileSync(sourceFile(src, ICPC2_CHAPTERS_FILE), 'utf8'), ',');
  const header = rows[0].fields;
  const code = header.indexOf('code');
  const en = header.indexOf('name_en');
  const out = new Map<string, string>();
  for (const r of rows.slice(1)) if (/^[A-Z]$/.test(r.fields[code])) out.set(r.fields[code], r.fields[en]);
  for (const ch of ICPC2_CHAPTERS) if (!out.has(ch)) throw new Error(`${ICPC2_CHAPTERS_FILE}: chapter ${ch} missing`);
  return out;
}

function readNorwegian(src: SourceDir): Map<string, string> {
  const list = JSON.parse(fs.readFileSync(sourceFile(src, ICPC2_NO_FILE), 'utf8')) as { code: string; text: string }[];
  return new Map(list.map((e) => [e.code.trim(), e.text.trim()]));
}

/** Ukrainian titles keyed by normalised code; warns when chapter forms of one process code disagree. */
function readUkrainian(src: SourceDir, warn: (m: string) => void): Map<string, string> {
  const eh = readEhealth(src);
  const votes = new Map<string, Map<string, number>>();
  for (const name of ['eHealth/ICPC2/condition_codes', 'eHealth/ICPC2/reasons', 'eHealth/ICPC2/actions']) {
    const d = eh.get(name);
    if (!d) throw new Error(`${UA_EHEALTH_FILE}: dictionary ${name} missing`);
    for (const [code, title] of Object.entries(d.values)) {
      if (typeof title !== 'string' || !title.trim()) continue;
      const key = normalizeIcpc2(code.trim());
      const m = votes.get(key) ?? new Map<string, number>();
      m.set(title.trim(), (m.get(title.trim()) ?? 0) + 1);
      votes.set(key, m);
    }
  }
  const out = new Map<string, string>();
  for (const [code, m] of votes) {
    const ranked = [...m.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (ranked.length > 1) warn(`ICPC2 ${code}: eHealth titles disagree (${ranked.map(([t, n]) => `"${t}"×${n}`).join(', ')}); using the most frequent`);
    out.set(code, ranked[0][0]);
  }
  return out;
}

const ATTRIBUTION =
  'ICPC-2 © World Organization of Family Doctors (WONCA), International Classification Committee. ' +
  'English: ICPC-2e v7.0 as distributed by the Norwegian Directorate of eHealth (Direktoratet for e-helse), "ICPC-2e – English version". ' +
  'Norwegian titles: Direktoratet for e-helse, via navikt/diagnosekoder. ' +
  'Ukrainian titles: eHealth Ukraine dictionaries (ehealth-ua/ehealth.api).';

const LICENSE =
  'ICPC-2 content is copyright WONCA; none of the source repositories states redistribution terms for it (their MIT/Apache ' +
  'licences cover the repositories). Confirm your ICPC-2 licence with WONCA / the Directorate of eHealth before redistributing this file.';

export async function buildIcpc2(src: SourceDir, warn: (m: string) => void): Promise<{ icpc2: DictionaryFile; no7170: DictionaryFile }> {
  const english = await readEnglish(src);
  const chapters = readChapters(src);
  const norwegian = readNorwegian(src);
  const ukrainian = readUkrainian(src, warn);

  const groups: DictionaryGroup[] = [...ICPC2_CHAPTERS].map((ch) => ({ code: ch, display: { en: chapters.get(ch)! } }));
  const codes: DictionaryCode[] = english.map((row) => {
    const process = row.code.startsWith('-');
    if (!process && !/^[A-Z]\d\d$/.test(row.code)) throw new Error(`${ICPC2_EN_FILE}: unexpected code "${row.code}"`);
    const display: Record<string, string> = { en: row.title };
    const nb = norwegian.get(row.code);
    if (nb) display.nb = nb;
    const uk = ukrainian.get(row.code);
    if (uk) display.uk = uk;
    const code: DictionaryCode = { code: row.code, display, active: true };
    if (!process) code.parent = row.code[0];
    code.properties = { component: componentOf(row.code), ...row.notes };
    return code;
  });
  // Process codes first (-30 … -69), then chapters in order.
  codes.sort((a, b) => (a.code.startsWith('-') === b.code.startsWith('-') ? (a.code < b.code ? -1 : 1) : a.code.startsWith('-') ? -1 : 1));
  for (const ch of ICPC2_CHAPTERS) {
    const n = codes.filter((c) => c.parent === ch).length;
    if (n === 0) throw new Error(`ICPC2: chapter ${ch} has no codes`);
  }

  const icpc2: DictionaryFile = {
    name: 'ICPC2',
    title: 'ICPC-2e – International Classification of Primary Care, second edition (electronic), v7.0',
    description:
      'All 726 ICPC-2e codes: the rubrics of component 1 (symptoms and complaints) and component 7 (diagnoses/diseases) of the 17 ' +
      'chapters, and the 40 process codes -30…-69 (components 2–6), which apply to every chapter: chapter forms such as K31 and the ' +
      'eHealth form *31 are accepted and normalised to -31. Titles in English (all), Norwegian bokmål (where the Norwegian list has ' +
      'them) and Ukrainian (eHealth). Hierarchy: chapter (group) → code; the component is a property.',
    version: '7.0',
    source: {
      publisher: 'WONCA; Norwegian Directorate of eHealth (English ICPC-2e v7.0 workbook via FINNGEN/mapping_finland)',
      description:
        'English workbook FINNGEN/mapping_finland ICPC/1_source_vocabulary/icpc-2e-v7.0.xlsx (commit 08bf18e08cca2fdbfbd2c5aedaaa7ffd2714d50f); ' +
        'chapter titles from the FinnGen merge CSV of the same commit; Norwegian: navikt/diagnosekoder packages/@navikt/diagnosekoder/src/ICPC2.json ' +
        '(commit 6a51b428c370ebb5a3f593ec1dde83e38401755a); Ukrainian: ehealth-ua/ehealth.api dictionaries fixture (commit 155448d7a683708f307634f7f40aafeb60b3d486).',
      url: 'https://www.ehelse.no/kodeverk-og-terminologi/ICPC-2',
      files: fileRefs(src, ICPC2_EN_FILE, ICPC2_CHAPTERS_FILE, ICPC2_NO_FILE, UA_EHEALTH_FILE),
      license: 'MIT (FinnGen, NAV repositories), Apache-2.0 (eHealth repository); content © WONCA',
    },
    attribution: ATTRIBUTION,
    license: LICENSE,
    languages: ['en', 'nb', 'uk'],
    default_language: 'en',
    aliases: ['http://hl7.org/fhir/sid/icpc-2', 'urn:oid:2.16.840.1.113883.6.139', '2.16.840.1.113883.6.139', 'ICPC-2'],
    fhir: { id: 'icpc2' },
    normalize: [NORMALIZE_RULE],
    properties: [
      { code: 'component', type: 'code', description: `ICPC-2 component: ${Object.entries(COMPONENTS).map(([k, v]) => `${k} ${v}`).join('; ')}` },
      { code: 'short_title', type: 'string', description: 'Short title (English)' },
      { code: 'inclusion', type: 'string', description: 'Inclusion terms (English)' },
      { code: 'exclusion', type: 'string', description: 'Exclusions (English)' },
      { code: 'criteria', type: 'string', description: 'Criteria (English)' },
      { code: 'consider', type: 'string', description: 'Consider (English)' },
      { code: 'note', type: 'string', description: 'Note (English)' },
      { code: 'icd10', type: 'string', description: 'ICD-10 codes the rubric maps to (from the ICPC-2e workbook)' },
    ],
    hierarchy: { meaning: 'grouped-by', groups },
    codes,
  };

  const english726 = new Map(codes.map((c) => [c.code, c.display.en]));
  const noCodes: DictionaryCode[] = [...norwegian.entries()].map(([code, text]) => {
    const en = english726.get(code);
    const c: DictionaryCode = { code, display: en ? { nb: text, en } : { nb: text }, active: true, parent: code[0] };
    if (!en) c.properties = { norwegian_extension: true };
    return c;
  });
  const no7170: DictionaryFile = {
    name: '7170',
    title: 'ICPC-2 (norsk) – kodeverk 7170: symptomer/plager og diagnoser/sykdommer',
    description:
      'The Norwegian ICPC-2 list as published by NAV (navikt/diagnosekoder, generated from the Directorate of eHealth code service): ' +
      'components 1 and 7 with Norwegian titles, including Norwegian additions (A191, A981, D991–D999, R991–R999, U891, W781); ' +
      'expired codes and process codes are not in that source (use ICPC2 for process codes). English titles from ICPC-2e where the code exists there.',
    version: '2024 (navikt/diagnosekoder 6a51b42)',
    source: {
      publisher: 'Direktoratet for e-helse, via NAV IT (navikt/diagnosekoder)',
      repository: 'https://github.com/navikt/diagnosekoder',
      commit: '6a51b428c370ebb5a3f593ec1dde83e38401755a',
      files: fileRefs(src, ICPC2_NO_FILE, ICPC2_EN_FILE, ICPC2_CHAPTERS_FILE),
      license: 'MIT (repository); content © WONCA',
    },
    attribution: ATTRIBUTION,
    license: LICENSE,
    languages: ['nb', 'en'],
    default_language: 'nb',
    aliases: ['urn:oid:2.16.578.1.12.4.1.1.7170', '2.16.578.1.12.4.1.1.7170'],
    fhir: { id: 'no-kodeverk-7170' },
    properties: [{ code: 'norwegian_extension', type: 'boolean', description: 'A Norwegian addition, not part of ICPC-2e' }],
    hierarchy: { meaning: 'grouped-by', groups: groups.map((g) => ({ ...g })) },
    codes: noCodes,
  };
  return { icpc2, no7170 };
}
