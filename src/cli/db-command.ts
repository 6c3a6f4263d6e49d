import type { Command } from 'commander';
import { findFerretDb, findOnPath, installFerretDb } from '../platform/devdb/ferretdb-binary.js';

/** `db install`: builds FerretDB 1.24.2 when neither mongod nor a working FerretDB binary is available. */
export function registerDatabaseCommands(program: Command): void {
  const db = program.command('db').description('The embedded development database');
  db.command('install')
    .description('Build FerretDB 1.24.2 (SQLite backend) into Go\'s bin directory unless mongod or FerretDB is already there')
    .action(async () => {
      if (process.env.MONGODB_URI) return void process.stdout.write('MONGODB_URI is set: nothing to install\n');
      const mongod = findOnPath('mongod');
      if (mongod) return void process.stdout.write(`mongod found at ${mongod}\n`);
      const existing = findFerretDb();
      if (existing) return void process.stdout.write(`FerretDB found at ${existing}\n`);
      const built = await installFerretDb((m) => process.stdout.write(`${m}\n`));
      if (!built) throw new Error('Could not build FerretDB: install Go (https://go.dev/dl/) or set MONGODB_URI');
      process.stdout.write(`FerretDB built at ${built}\n`);
    });
}
