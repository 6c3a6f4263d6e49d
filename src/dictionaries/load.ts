/**
 * Loading dictionary files into the database through the DictionaryService (what `hl7-engine dictionaries load`
 * does): JSON in the file format, or CSV for one named dictionary.
 */
import fs from 'node:fs';
import path from 'node:path';
import { splitFile, type DictionaryFile } from './format.js';
import type { InvalidEntry } from './schema.js';
import { DictionaryError, listDictionaryFiles, type ChangeResult, type DictionaryService } from './service.js';
import { TextDecodeError, decodeText } from './text.js';
import { UploadError, csvInvalid, csvToDictionary, jsonToDictionary, type CsvDictionary } from './upload.js';

interface LoadOptions {
  dryRun?: boolean;
  by: string;
  /** Dictionary name for a CSV file (or a JSON file without `name`). */
  name?: string;
  /** Charset of the file when it is not UTF-8 (e.g. iso-8859-1). */
  charset?: string;
  missing?: 'remove' | 'deactivate';
  version?: string;
}

export class LoadError extends Error {
  constructor(
    public readonly file: string,
    message: string,
    public readonly invalid: InvalidEntry[] = [],
  ) {
    super(message);
    this.name = 'LoadError';
  }
}

/** The files a path stands for: the file itself, or the dictionary JSON files of a folder. */
export function filesToLoad(target: string): string[] {
  const st = fs.statSync(target);
  if (st.isDirectory()) return listDictionaryFiles(target);
  return [target];
}

export async function loadDictionaryFile(service: DictionaryService, file: string, opts: LoadOptions): Promise<ChangeResult> {
  const ext = path.extname(file).toLowerCase();
  try {
    const text = decodeText(fs.readFileSync(file), opts.charset);
    if (text.trim() === '') throw new LoadError(file, 'the file is empty');
    let doc: DictionaryFile;
    let csv: CsvDictionary | undefined;
    if (ext === '.csv' || ext === '.tsv' || ext === '.txt') {
      if (!opts.name) throw new LoadError(file, 'a CSV file needs --name <dictionary>');
      const current = await service.export(opts.name);
      csv = csvToDictionary(text, { name: opts.name, current: current ? splitFile(current).meta : undefined, version: opts.version });
      doc = csv.file;
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new LoadError(file, `not valid JSON (${(err as Error).message})`);
      }
      const name = opts.name ?? (parsed as { name?: unknown })?.name;
      if (typeof name !== 'string') throw new LoadError(file, 'the file has no "name"; pass --name <dictionary>');
      const current = await service.export(name);
      doc = jsonToDictionary(parsed, { name, current: current ? splitFile(current).meta : undefined, version: opts.version });
    }
    try {
      return await service.replace(doc.name, doc, { dryRun: opts.dryRun, by: opts.by, missing: opts.missing });
    } catch (err) {
      if (err instanceof DictionaryError && err.invalid && csv) throw new LoadError(file, err.message, csvInvalid(err.invalid, csv));
      throw err;
    }
  } catch (err) {
    if (err instanceof LoadError) throw err;
    if (err instanceof DictionaryError || err instanceof UploadError) throw new LoadError(file, err.message, err.invalid ?? []);
    if (err instanceof TextDecodeError) throw new LoadError(file, `${err.message.replace(/^The body/, 'The file')}${opts.charset ? '' : ' (use --charset)'}`);
    throw err;
  }
}
