/**
 * Loading registry files (CLI `registries load <file|dir>`):
 *   - `<registry>.json` holding an array of records (or {"data": [...]}), e.g. `employees.json`;
 *   - any `.json` file holding a bundle {"<registry>": [records], ...};
 *   - a directory: every `.json` file in it, in name order.
 * Every record of every file is validated before anything is written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { validationFailed, type InvalidEntry } from '../platform/http/validation-error.js';
import { registryByName } from './definitions.js';
import { RegistryValidationError, type RegistryStore, type UpsertSummary } from './store.js';
import type { RegistryName } from './types.js';

interface LoadBatch {
  registry: RegistryName;
  file: string;
  /** JSON path prefix of the records in the file, e.g. `$` or `$.employees`. */
  pathPrefix: string;
  records: unknown[];
}

class RegistryFileError extends Error {}

export function readRegistryFiles(target: string, forcedRegistry?: string): LoadBatch[] {
  const st = fs.statSync(target);
  const files = st.isDirectory()
    ? fs
        .readdirSync(target)
        .filter((f) => f.toLowerCase().endsWith('.json'))
        .sort()
        .map((f) => path.join(target, f))
    : [target];
  if (files.length === 0) throw new RegistryFileError(`No .json files in ${target}`);
  const batches: LoadBatch[] = [];
  for (const file of files) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new RegistryFileError(`${path.basename(file)}: not valid JSON (${(err as Error).message})`);
    }
    const base = path.basename(file, path.extname(file));
    const asList = Array.isArray(parsed) ? parsed : Array.isArray((parsed as { data?: unknown })?.data) ? (parsed as { data: unknown[] }).data : undefined;
    const nameFromFile = forcedRegistry ?? base;
    if (asList) {
      if (!registryByName.has(nameFromFile as RegistryName)) {
        throw new RegistryFileError(
          `${path.basename(file)}: an array of records needs a registry name (file name or --registry); known: ${[...registryByName.keys()].join(', ')}`,
        );
      }
      batches.push({ registry: nameFromFile as RegistryName, file, pathPrefix: Array.isArray(parsed) ? '$' : '$.data', records: asList });
      continue;
    }
    if (!parsed || typeof parsed !== 'object') throw new RegistryFileError(`${path.basename(file)}: expected an array or an object of registries`);
    for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
      if (!registryByName.has(key as RegistryName)) throw new RegistryFileError(`${path.basename(file)}: unknown registry "${key}"`);
      if (!Array.isArray(value)) throw new RegistryFileError(`${path.basename(file)}: "${key}" must be an array of records`);
      batches.push({ registry: key as RegistryName, file, pathPrefix: `$.${key}`, records: value });
    }
  }
  return batches;
}

/** Validates all batches, then writes them. Throws RegistryValidationError with file-qualified entries. */
export async function loadRegistryBatches(store: RegistryStore, batches: LoadBatch[], actor: string): Promise<Map<RegistryName, UpsertSummary>> {
  const invalid: InvalidEntry[] = [];
  for (const b of batches) {
    b.records.forEach((r, i) => {
      for (const e of store.validate(b.registry, r, `${b.pathPrefix}[${i}]`)) invalid.push({ ...e, entry: `${path.basename(b.file)}:${e.entry}` });
    });
  }
  if (invalid.length) throw new RegistryValidationError(validationFailed(invalid));
  const totals = new Map<RegistryName, UpsertSummary>();
  for (const b of batches) {
    const s = await store.upsertMany(b.registry, b.records, actor);
    const t = totals.get(b.registry) ?? { inserted: 0, updated: 0, unchanged: 0 };
    totals.set(b.registry, { inserted: t.inserted + s.inserted, updated: t.updated + s.updated, unchanged: t.unchanged + s.unchanged });
  }
  return totals;
}
