/**
 * Norwegian code systems from the HL7 Norway FHIR CodeSystems (HL7Norway/kodeverk, gh-pages, values from Volven):
 * 8116 ID-type for personer, 8268 Type identifikator, 9060 Kategori helsepersonell.
 */
import fs from 'node:fs';
import type { DictionaryFile } from '../format.js';
import { fileRefs, sourceFile, type SourceDir } from './sources.js';

interface FhirCodeSystem {
  url: string;
  identifier?: { system?: string; value: string }[];
  version?: string;
  title?: string;
  description?: string;
  language?: string;
  concept: { code: string; display?: string; definition?: string; concept?: unknown[] }[];
}

export const NORWEGIAN_SYSTEMS = ['8116', '8268', '9060'];

export function buildNorwegian(src: SourceDir, number: string): DictionaryFile {
  const rel = `no-kodeverk-${number}/CodeSystem-no-kodeverk-${number}.codesystem.json`;
  const cs = JSON.parse(fs.readFileSync(sourceFile(src, rel), 'utf8')) as FhirCodeSystem;
  if (cs.concept.some((c) => c.concept)) throw new Error(`${rel}: nested concepts are not expected`);
  const oid = cs.identifier?.map((i) => i.value).find((v) => v.startsWith('urn:oid:'));
  const aliases = [cs.url, ...(oid ? [oid, oid.slice('urn:oid:'.length)] : [])];
  return {
    name: number,
    title: cs.title ?? `Kodeverk ${number}`,
    description: cs.description,
    version: cs.version ?? '1',
    source: {
      publisher: 'Helsedirektoratet / Direktoratet for e-helse (Volven), as FHIR CodeSystem by HL7 Norway',
      repository: 'https://github.com/HL7Norway/kodeverk',
      commit: '1b13869d1e2a76fdc3538bfb2b182488a3a8cdf0',
      url: cs.url,
      files: fileRefs(src, rel),
      license: 'none stated by the repository; values from Volven (Helsedirektoratet)',
    },
    attribution: `Kodeverk ${number} © Helsedirektoratet (volven.no); FHIR CodeSystem by HL7 Norway (HL7Norway/kodeverk).`,
    license: 'No licence stated by the source repository; Norwegian public code list.',
    languages: ['nb'],
    default_language: 'nb',
    aliases,
    fhir: { id: `no-kodeverk-${number}` },
    codes: cs.concept.map((c) => ({
      code: c.code.trim(),
      display: { nb: (c.display ?? c.code).trim() },
      ...(c.definition?.trim() ? { definition: { nb: c.definition.trim() } } : {}),
      active: true,
    })),
  };
}
