import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { isFerretDb, localFerretDbSqliteDir } from '../../src/platform/db/ferretdb-sqlite.js';
import { databaseUri, engine } from '../support/harness.js';

describe('FerretDB/SQLite _id lookups', () => {
  it('use an index on every FHIR table (the engine adds one matching FerretDB\'s pushed-down expression)', async function () {
    const db = engine().ctx.database.db;
    if (!(await isFerretDb(db))) this.skip();
    const dir = localFerretDbSqliteDir(databaseUri());
    expect(dir, 'local FerretDB data directory').to.be.a('string');
    const file = path.join(dir!, `${engine().config.mongodbDatabase}.sqlite`);
    for (const name of ['fhir_ServiceRequest', 'fhir_history', 'fhir_search_index']) {
      const table = execFileSync('sqlite3', [file, `SELECT table_name FROM _ferretdb_collections WHERE name = '${name}'`]).toString().trim();
      expect(table, name).to.match(/^[a-z0-9_]+$/);
      const plan = execFileSync('sqlite3', [file, `EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM "${table}" WHERE _ferretdb_sjson->'$._id' = '"x"'`]).toString();
      expect(plan, name).to.match(/SEARCH .* USING INDEX .*__id_pushdown/);
    }
  });
});
