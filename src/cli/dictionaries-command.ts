/**
 * `dictionaries load <file|dir> [--dry-run] [--name <dictionary>] [--charset <cs>] [--missing deactivate] [--version <v>]`,
 * `dictionaries rollback <name> [--to <revision>] [--dry-run]` and `dictionaries list`: the same validation, diff and
 * versioning as PUT /api/dictionaries/{name} and POST /api/dictionaries/{name}/rollback, straight against
 * the database (MONGODB_URI, or the embedded server of DATA_DIR). Running engines pick the change up through their
 * cache stamps within DICTIONARY_CACHE_CHECK_MS.
 */
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { LoadError, filesToLoad, loadDictionaryFile } from '../dictionaries/load.js';
import { DictionaryService, type ChangeResult } from '../dictionaries/service.js';
import { withDatabase } from './database.js';

interface LoadCliOptions {
  dryRun?: boolean;
  name?: string;
  charset?: string;
  missing?: string;
  version?: string;
  by?: string;
}

export function describeChange(r: ChangeResult): string {
  const s = r.diff;
  const counts = `+${s.added.length} added, -${s.removed.length} removed, ~${s.changed.length} changed, ${s.unchanged} unchanged`;
  const meta = s.meta_changed.length ? `; metadata: ${s.meta_changed.join(', ')}` : '';
  if (!r.changed) return `${r.name}: unchanged (revision ${r.revision})`;
  if (r.created) return `${r.name}: ${r.dry_run ? 'would be created' : `created as revision ${r.revision}`} with ${s.added.length} codes`;
  return `${r.name}: ${r.dry_run ? `would change revision ${r.from_revision}` : `revision ${r.from_revision} → ${r.revision}`}: ${counts}${meta}`;
}

export function registerDictionariesCommand(program: Command): void {
  const cmd = program
    .command('dictionaries')
    .description('Code lists (ICPC2, eHealth, Norwegian code systems): load, list, rollback');

  cmd
    .command('load <path>')
    .description('Validate and load dictionaries from a JSON file (the dictionary file format), a folder of them, or a CSV file (--name)')
    .option('--dry-run', 'validate and print the diff; write nothing')
    .option('--name <dictionary>', 'dictionary of a CSV file (or of a JSON file without "name")')
    .option('--charset <charset>', 'encoding of the file when it is not UTF-8, e.g. iso-8859-1 or windows-1252')
    .option('--missing <mode>', 'codes missing from the file: remove (default) or deactivate', 'remove')
    .option('--version <version>', 'version label of the new content')
    .option('--by <user>', 'who is loading (stored with the version)')
    .action(async (target: string, opts: LoadCliOptions) => {
      if (opts.missing !== 'remove' && opts.missing !== 'deactivate') throw new Error('--missing must be remove or deactivate');
      let files: string[];
      try {
        files = filesToLoad(target);
      } catch {
        throw new Error(`${target}: no such file or folder`);
      }
      if (files.length === 0) throw new Error(`${target}: no dictionary files (*.json) found`);
      if (opts.name && files.length > 1) throw new Error('--name applies to a single file, not a folder');
      const by = opts.by ?? `cli:${safeUser()}`;
      const failed = await withDatabase(async (database, config) => {
        const service = new DictionaryService(database.db, { cacheCheckMs: 0, versionsKept: config.dictionaries.versionsKept });
        const bar = new cliProgress.SingleBar(
          { format: 'dictionaries |{bar}| {value}/{total} {file}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(files.length, 0, { file: '' });
        const lines: string[] = [];
        const errors: string[] = [];
        for (const file of files) {
          bar.update({ file: path.basename(file) });
          try {
            const r = await loadDictionaryFile(service, file, {
              dryRun: opts.dryRun,
              by,
              name: opts.name,
              charset: opts.charset,
              missing: opts.missing as 'remove' | 'deactivate',
              version: opts.version,
            });
            lines.push(describeChange(r));
          } catch (err) {
            if (!(err instanceof LoadError)) {
              bar.stop();
              throw err;
            }
            errors.push(`${err.file}: ${err.message}`);
            for (const e of err.invalid.slice(0, 20)) errors.push(`  ${e.entry}: ${e.rules.map((r) => r.description).join('; ')}`);
            if (err.invalid.length > 20) errors.push(`  … and ${err.invalid.length - 20} more`);
          }
          bar.increment();
        }
        bar.stop();
        for (const l of lines) process.stdout.write(`${l}\n`);
        if (opts.dryRun) process.stdout.write('dry run: nothing was written\n');
        for (const e of errors) process.stderr.write(`${e}\n`);
        return errors.length > 0;
      });
      if (failed) throw new Error('Some dictionaries were not loaded (see above); the others were.');
    });

  cmd
    .command('rollback <name>')
    .description('Return a dictionary to the revision its current one was based on (repeat to walk further back), or to --to <revision>, as a new revision')
    .option('--to <revision>', 'the kept revision to return to', (v) => Number(v))
    .option('--dry-run', 'print the diff; write nothing')
    .option('--by <user>', 'who is rolling back (stored with the version)')
    .action(async (name: string, opts: { to?: number; dryRun?: boolean; by?: string }) => {
      if (opts.to !== undefined && (!Number.isInteger(opts.to) || opts.to < 1)) throw new Error('--to must be a positive revision number');
      await withDatabase(async (database, config) => {
        const service = new DictionaryService(database.db, { cacheCheckMs: 0, versionsKept: config.dictionaries.versionsKept });
        const d = await service.get(name);
        if (!d) throw new Error(`Dictionary ${name} not found`);
        const r = await service.rollback(d.name, { by: opts.by ?? `cli:${safeUser()}`, toRevision: opts.to, dryRun: opts.dryRun });
        process.stdout.write(`${describeChange(r)} (content of revision ${r.rolled_back_to})\n`);
        if (opts.dryRun) process.stdout.write('dry run: nothing was written\n');
      });
    });

  cmd
    .command('list')
    .description('Dictionaries with revision, version and code counts')
    .action(async () => {
      await withDatabase(async (database, config) => {
        const service = new DictionaryService(database.db, { cacheCheckMs: 0, versionsKept: config.dictionaries.versionsKept });
        const list = await service.list();
        const width = Math.max(10, ...list.map((d) => d.name.length));
        for (const d of list) {
          const langs = Object.entries(d.language_counts).map(([l, n]) => `${l} ${n}`).join(', ');
          process.stdout.write(
            `${d.name.padEnd(width)}  r${String(d.revision).padEnd(4)} ${String(d.code_count).padStart(6)} codes (${d.active_count} active)  ${langs}${d.starter ? '  [starter]' : ''}\n`,
          );
        }
      });
    });
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}
