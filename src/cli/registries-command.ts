/**
 * `registries load <file|dir> [--registry <name>] [--dry-run]` and `registries list`.
 */
import type { Command } from 'commander';
import { registryDefinitions } from '../registries/definitions.js';
import { loadRegistryBatches, readRegistryFiles } from '../registries/loader.js';
import { RegistryStore, RegistryValidationError } from '../registries/store.js';
import { withDatabase } from './database.js';

export function registerRegistriesCommand(program: Command): void {
  const cmd = program.command('registries').description('Registries the care plan rules read (legal entities, employees, programs, ...)');

  cmd
    .command('load <path>')
    .description('Validate and upsert records from a .json file or a directory of them (<registry>.json arrays or {"<registry>": [...]} bundles)')
    .option('--registry <name>', 'registry of a file that holds a plain array, when its file name is not the registry name')
    .option('--dry-run', 'validate only')
    .action(async (target: string, opts: { registry?: string; dryRun?: boolean }) => {
      const batches = readRegistryFiles(target, opts.registry);
      await withDatabase(async (database) => {
        const store = new RegistryStore(database.db);
        try {
          if (opts.dryRun) {
            const n = batches.reduce((a, b) => a + b.records.length, 0);
            const problems = batches.flatMap((b) => b.records.flatMap((r, i) => store.validate(b.registry, r, `${b.pathPrefix}[${i}]`)));
            if (problems.length) throw new RegistryValidationError({ type: 'validation_failed', message: 'invalid', invalid: problems });
            process.stdout.write(`${n} records valid (dry run: nothing written)\n`);
            return;
          }
          const totals = await loadRegistryBatches(store, batches, 'cli');
          for (const [name, s] of totals) {
            process.stdout.write(`${name}: ${s.inserted} inserted, ${s.updated} updated, ${s.unchanged} unchanged\n`);
          }
        } catch (err) {
          if (!(err instanceof RegistryValidationError)) throw err;
          for (const e of err.body.invalid.slice(0, 100)) {
            process.stderr.write(`${e.entry}: ${e.rules.map((r) => r.description).join('; ')}\n`);
          }
          if (err.body.invalid.length > 100) process.stderr.write(`... and ${err.body.invalid.length - 100} more\n`);
          throw new Error('Registry records failed validation: nothing was written');
        }
      });
    });

  cmd
    .command('list')
    .description('Registries and their record counts')
    .action(async () => {
      await withDatabase(async (database) => {
        const store = new RegistryStore(database.db);
        for (const d of registryDefinitions) process.stdout.write(`${d.name.padEnd(22)} ${String(await store.count(d.name)).padStart(8)}  ${d.description}\n`);
      });
    });
}
