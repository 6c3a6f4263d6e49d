/**
 * Reading the source files of `../shared/fixtures/dictionaries-source/` (see its SOURCES.md): where each came from
 * and small helpers shared by the converters.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DictionarySource } from '../format.js';

export interface SourceDir {
  /** The `dictionaries-source` folder. */
  root: string;
}

export function sourceFile(src: SourceDir, rel: string): string {
  const p = path.join(src.root, rel);
  if (!fs.existsSync(p)) throw new Error(`Source file missing: ${p} (see SOURCES.md of the dictionaries source folder)`);
  return p;
}

export function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** `files` entries of a source block: path relative to the source folder plus the file's sha256. */
export function fileRefs(src: SourceDir, ...rels: string[]): { path: string; sha256: string }[] {
  return rels.map((rel) => ({ path: `dictionaries-source/${rel}`, sha256: sha256(sourceFile(src, rel)) }));
}

export const UA_EHEALTH_FILE = 'ua-ehealth-dictionaries/dictionaries.json';
export const ICPC2_EN_FILE = 'icpc2-en/icpc-2e-v7.0.xlsx';
export const ICPC2_CHAPTERS_FILE = 'icpc2-fi-en/icpc2_for_source_vocabulary.csv';
export const ICPC2_NO_FILE = 'icpc2-no/ICPC2.json';

export const UA_EHEALTH_SOURCE: Omit<DictionarySource, 'files'> = {
  publisher: 'eHealth Ukraine (Edenlab), ehealth-ua/ehealth.api',
  description: 'apps/core/priv/repo/fixtures/dictionaries.json, branch develop, snapshot of 2019-06-12',
  repository: 'https://github.com/ehealth-ua/ehealth.api',
  commit: '155448d7a683708f307634f7f40aafeb60b3d486',
  license: 'Apache-2.0',
};

export const UA_EHEALTH_VERSION = '2019-06-12';

/** Title of a dictionary value: Cyrillic text is Ukrainian, anything else English (the eHealth file mixes both). */
export function languageOfText(text: string): 'uk' | 'en' {
  return /[\u0400-\u04FF]/.test(text) ? 'uk' : 'en';
}

export interface EhealthDictionary {
  name: string;
  values: Record<string, unknown>;
  labels: string[];
  is_active: boolean;
}

export function readEhealth(src: SourceDir): Map<string, EhealthDictionary> {
  const list = JSON.parse(fs.readFileSync(sourceFile(src, UA_EHEALTH_FILE), 'utf8')) as EhealthDictionary[];
  return new Map(list.map((d) => [d.name, d]));
}
