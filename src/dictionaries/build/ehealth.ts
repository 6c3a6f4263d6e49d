/**
 * Dictionaries taken as they are from the eHealth Ukraine fixture (2019 snapshot), plus
 * `eHealth/ICD10_AM/condition_codes`, a stand-in with the structure of the licensed list, built from the old
 * eHealth ICD-10 list.
 */
import type { DictionaryCode, DictionaryFile } from '../format.js';
import { UA_EHEALTH_FILE, UA_EHEALTH_SOURCE, UA_EHEALTH_VERSION, fileRefs, languageOfText, readEhealth, type EhealthDictionary, type SourceDir } from './sources.js';

interface Pick {
  name: string;
  title: string;
  description?: string;
  normalize?: DictionaryFile['normalize'];
}

/** What the engine ships from the eHealth file: the list and what care plan activities refer to. */
const EHEALTH_PICKS: Pick[] = [
  { name: 'MEDICATION_UNIT', title: 'Medication units (eHealth)', description: 'Units of medication quantities and dosages (2019 seed: 11 values; production has more, e.g. no TABLET here).' },
  { name: 'SPECIALITY_TYPE', title: 'Speciality types (eHealth)', description: 'Employee speciality types (2019 seed: 7 values; production has many more).' },
  { name: 'TIMING_ABBREVIATION', title: 'Timing abbreviations (eHealth)', description: 'Codes of Timing.code (BID, TID, …).' },
  { name: 'EVENT_TIMING', title: 'Event timing (eHealth)', description: 'Timing.repeat.when values (HS, WAKE, AC, …).' },
  { name: 'UNITS_OF_TIME', title: 'Units of time (eHealth)', description: 'Timing.repeat duration/period units (s, min, h, d, wk, mo, a).' },
  { name: 'DAYS_OF_WEEK', title: 'Days of week (eHealth)', description: 'Timing.repeat.day_of_week values.' },
  { name: 'MEDICATION_FORM', title: 'Medication forms (eHealth)' },
  { name: 'eHealth/ucum/units', title: 'UCUM units used by eHealth', description: 'Units of observations and timing bounds (2019 seed: 13 values, including day "доба").' },
  { name: 'eHealth/resources', title: 'eHealth resource types', description: 'Reference identifier types (coding system of Reference.identifier.type). 2019 seed: no care_plan, service, device_definition yet.' },
  {
    name: 'eHealth/ICPC2/condition_codes',
    title: 'ICPC-2 condition codes (eHealth)',
    description: 'ICPC-2 components 1 and 7 of all 17 chapters with Ukrainian titles (686). ICPC-2 © WONCA.',
  },
  {
    name: 'eHealth/ICPC2/reasons',
    title: 'ICPC-2 reasons for encounter (eHealth)',
    description:
      'ICPC-2 codes allowed as reasons for encounter: components 1 and 7 plus process codes per chapter (A31…) and the chapter-less forms *30, *48, *63. ICPC-2 © WONCA.',
    normalize: [{ pattern: '^-(\\d\\d)$', replace: '*$1', description: 'ICPC-2 chapter-less process codes written -30 are the eHealth *30' }],
  },
  {
    name: 'eHealth/ICPC2/actions',
    title: 'ICPC-2 actions (eHealth)',
    description: 'ICPC-2 process codes (components 2–6) per chapter (A31…) and the chapter-less forms *30, *48. ICPC-2 © WONCA.',
    normalize: [{ pattern: '^-(\\d\\d)$', replace: '*$1', description: 'ICPC-2 chapter-less process codes written -30 are the eHealth *30' }],
  },
  {
    name: 'eHealth/ICD10/condition_codes',
    title: 'ICD-10 condition codes (eHealth, 2019)',
    description: 'The old eHealth ICD-10 list (codes such as A00.00) with Ukrainian titles. Not ICD-10-AM.',
  },
];

/**
 * The eHealth file has no language field: a dictionary whose titles are mostly Cyrillic is Ukrainian, otherwise English
 * (one language per dictionary, so a Latin name inside a Ukrainian list, e.g. ICD-10 "Coxa plana", stays Ukrainian).
 */
function ehealthCodes(d: EhealthDictionary, warn: (m: string) => void): { codes: DictionaryCode[]; languages: string[] } {
  const entries: [string, string][] = [];
  for (const [rawCode, value] of Object.entries(d.values)) {
    if (typeof value !== 'string' || !value.trim()) {
      warn(`${d.name}: value of "${rawCode}" is not a text; skipped`);
      continue;
    }
    entries.push([rawCode.trim(), value.trim()]);
  }
  const cyrillic = entries.filter(([, t]) => languageOfText(t) === 'uk').length;
  const lang = cyrillic * 2 >= entries.length ? 'uk' : 'en';
  const codes = entries.map(([code, title]): DictionaryCode => ({ code, display: { [lang]: title }, active: d.is_active !== false }));
  return { codes, languages: [lang] };
}

export function buildEhealth(src: SourceDir, warn: (m: string) => void): DictionaryFile[] {
  const eh = readEhealth(src);
  const files = fileRefs(src, UA_EHEALTH_FILE);
  const out: DictionaryFile[] = [];
  for (const pick of EHEALTH_PICKS) {
    const d = eh.get(pick.name);
    if (!d) throw new Error(`${UA_EHEALTH_FILE}: dictionary ${pick.name} missing`);
    const { codes, languages } = ehealthCodes(d, warn);
    const file: DictionaryFile = {
      name: pick.name,
      title: pick.title,
      description: pick.description,
      version: UA_EHEALTH_VERSION,
      source: { ...UA_EHEALTH_SOURCE, files },
      attribution: 'eHealth Ukraine dictionaries, ehealth-ua/ehealth.api (Apache-2.0).' + (pick.name.includes('ICPC2') ? ' ICPC-2 © WONCA.' : ''),
      license: 'Apache-2.0 (repository)' + (pick.name.includes('ICPC2') ? '; ICPC-2 content © WONCA, see the ICPC2 dictionary' : ''),
      languages,
      default_language: languages[0],
      labels: d.labels,
      codes,
    };
    if (pick.normalize) file.normalize = pick.normalize;
    if (!file.description) delete file.description;
    out.push(file);
  }

  const icd10 = out.find((f) => f.name === 'eHealth/ICD10/condition_codes')!;
  out.push({
    ...icd10,
    name: 'eHealth/ICD10_AM/condition_codes',
    title: 'ICD-10-AM condition codes (eHealth) – STAND-IN, not the licensed ICD-10-AM',
    description:
      'NOT the licensed ICD-10-AM (NK 025:2021) list: a stand-in with the same structure, copied from the 2019 eHealth ICD-10 list ' +
      '(eHealth/ICD10/condition_codes) so care plans can be validated in development. Replace it with the licensed list ' +
      '(PUT /api/dictionaries/eHealth%2FICD10_AM%2Fcondition_codes or `hl7-engine dictionaries load`).',
    starter: true,
    version: `${UA_EHEALTH_VERSION}-icd10-standin`,
    license: 'Apache-2.0 (repository). ICD-10-AM itself is licensed; this file does not contain it.',
    codes: icd10.codes.map((c) => ({ ...c, display: { ...c.display } })),
  });
  return out;
}
