/**
 * FerretDB 1.24 with its SQLite backend pushes `{_id: <string>}` filters down to SQL as
 * `WHERE _ferretdb_sjson->'$._id' = ?`, but creates its `_id` index on `_ferretdb_sjson->"_id"`: a different
 * expression, so SQLite never uses it and every `_id` lookup scans the whole table (EXPLAIN QUERY PLAN: SCAN).
 * At a million documents that is seconds per lookup.
 *
 * When the database is a local FerretDB/SQLite (the embedded development database or the test database), this adds
 * to every table an expression index on exactly the pushed-down expression (`<table>__id_pushdown`), with the
 * `sqlite3` command-line tool, which turns those lookups into index searches. FerretDB does not know these indexes
 * (listIndexes does not show them); SQLite maintains them and drops them with their table. Nothing happens on
 * MongoDB, and a remote FerretDB (not found among local processes) only gets a warning in the log.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Db } from 'mongodb';
import { rootLogger } from '../logging/logger.js';

const run = promisify(execFile);

/** Returns the SQLite file of a local FerretDB serving `uri`, or undefined. */
export function localFerretDbSqliteDir(uri: string): string | undefined {
  let port: string;
  try {
    port = new URL(uri.replace(/^mongodb(\+srv)?:/, 'http:')).port || '27017';
  } catch {
    return undefined;
  }
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let cmdline: string[];
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!cmdline[0] || !path.basename(cmdline[0]).startsWith('ferretdb')) continue;
    if (!cmdline.some((a) => a.startsWith('--listen-addr=') && a.endsWith(`:${port}`))) continue;
    const url = cmdline.find((a) => a.startsWith('--sqlite-url='));
    if (!url) return undefined;
    const m = /^--sqlite-url=file:(.*?)\/?(\?.*)?$/.exec(url);
    return m ? m[1] : undefined;
  }
  return undefined;
}

export async function isFerretDb(db: Db): Promise<boolean> {
  try {
    const info = await db.admin().command({ buildInfo: 1 });
    return typeof info.ferretdbVersion === 'string';
  } catch {
    return false;
  }
}

/**
 * Adds the pushdown-matching `_id` index to every table of `dbName` (idempotent, fast for existing indexes).
 * Returns the number of tables covered, or undefined when not applicable.
 */
export async function ensureFerretDbIdIndexes(db: Db, uri: string, dbName: string): Promise<number | undefined> {
  if (!(await isFerretDb(db))) return undefined;
  const dir = localFerretDbSqliteDir(uri);
  const file = dir ? path.join(dir, `${dbName}.sqlite`) : undefined;
  if (!file || !fs.existsSync(file)) {
    rootLogger().warn('FerretDB/SQLite database not found locally: _id lookups will scan whole tables (slow on large collections)');
    return undefined;
  }
  try {
    const { stdout } = await run('sqlite3', ['-cmd', '.timeout 10000', file, 'SELECT table_name FROM _ferretdb_collections;'], { timeout: 60_000 });
    const tables = stdout.split('\n').map((t) => t.trim()).filter((t) => /^[A-Za-z0-9_]+$/.test(t));
    if (tables.length === 0) return 0;
    const sql = tables
      .map((t) => `CREATE INDEX IF NOT EXISTS "${t}__id_pushdown" ON "${t}" (_ferretdb_sjson->'$._id');`)
      .join('\n');
    await run('sqlite3', ['-cmd', '.timeout 30000', file, sql], { timeout: 600_000 });
    return tables.length;
  } catch (err) {
    rootLogger().warn({ err: { message: (err as Error).message } }, 'could not add _id indexes to FerretDB/SQLite (is sqlite3 installed?)');
    return undefined;
  }
}
