/**
 * `npm run dictionaries:build [-- --source <dictionaries-source dir>] [--out <dir>]`
 *
 * Converts the source files (default `../shared/fixtures/dictionaries-source/`, see its SOURCES.md) into the shipped
 * `dictionaries/*.json` (one file per dictionary, named by its FHIR id), validates every file against the dictionary
 * schema and prints the number of codes per dictionary and language. Run again when a source releases a new version.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from '../../platform/paths.js';
import { fhirIdOf, serializeDictionary, type DictionaryFile } from '../format.js';
import { dictionarySchema, validateDictionary } from '../schema.js';
import { buildEhealth } from './ehealth.js';
import { buildIcpc2 } from './icpc2.js';
import { NORWEGIAN_SYSTEMS, buildNorwegian } from './norway.js';
import { buildStarters } from './starters.js';

const projectRoot = PROJECT_ROOT;

interface BuildOptions {
  source: string;
  out: string;
  log?: (line: string) => void;
}

interface BuildReport {
  files: { name: string; file: string; codes: number; languages: Record<string, number> }[];
  warnings: string[];
}

export async function buildDictionaries(opts: BuildOptions): Promise<BuildReport> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    log(`warning: ${m}`);
  };
  const src = { root: path.resolve(opts.source) };
  if (!fs.existsSync(src.root)) throw new Error(`Source folder not found: ${src.root}`);

  const { icpc2, no7170 } = await buildIcpc2(src, warn);
  const all: DictionaryFile[] = [
    icpc2,
    ...buildEhealth(src, warn),
    ...buildStarters(),
    ...NORWEGIAN_SYSTEMS.map((n) => buildNorwegian(src, n)),
    no7170,
  ];

  if (icpc2.codes.length !== 726) throw new Error(`ICPC2 has ${icpc2.codes.length} codes, expected 726`);
  const missingEnglish = icpc2.codes.filter((c) => !c.display.en);
  if (missingEnglish.length) throw new Error(`ICPC2 codes without an English title: ${missingEnglish.map((c) => c.code).join(', ')}`);

  const ids = new Set<string>();
  fs.mkdirSync(opts.out, { recursive: true });
  const report: BuildReport = { files: [], warnings };
  for (const d of all) {
    const id = fhirIdOf(d);
    if (ids.has(id)) throw new Error(`Two dictionaries share the file name / FHIR id "${id}"`);
    ids.add(id);
    const file: DictionaryFile = { $schema: './dictionary.schema.json', ...d };
    const result = validateDictionary(file);
    if (!result.valid) {
      throw new Error(`${d.name} does not validate: ${result.invalid.slice(0, 5).map((i) => `${i.entry}: ${i.rules[0].description}`).join('; ')}`);
    }
    const target = path.join(opts.out, `${id}.json`);
    fs.writeFileSync(target, serializeDictionary(file));
    const languages: Record<string, number> = {};
    for (const lang of d.languages) languages[lang] = d.codes.filter((c) => c.display[lang]).length;
    report.files.push({ name: d.name, file: path.relative(projectRoot, target), codes: d.codes.length, languages });
  }
  fs.writeFileSync(path.join(opts.out, 'dictionary.schema.json'), `${JSON.stringify(dictionarySchema, null, 2)}\n`);

  const width = Math.max(...report.files.map((f) => f.name.length));
  log('');
  log(`${'dictionary'.padEnd(width)}  codes  per language`);
  for (const f of report.files) {
    log(`${f.name.padEnd(width)}  ${String(f.codes).padStart(5)}  ${Object.entries(f.languages).map(([l, n]) => `${l} ${n}`).join(', ')}`);
  }
  log(`\n${report.files.length} dictionaries written to ${path.relative(process.cwd(), opts.out) || '.'}`);
  return report;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const source = arg('source') ?? process.env.DICTIONARIES_SOURCE ?? path.resolve(projectRoot, '..', 'shared', 'fixtures', 'dictionaries-source');
  const out = arg('out') ?? path.join(projectRoot, 'dictionaries');
  buildDictionaries({ source, out }).catch((err: Error) => {
    process.stderr.write(`dictionaries:build failed: ${err.message}\n`);
    process.exit(1);
  });
}
