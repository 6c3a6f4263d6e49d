import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { databaseUri, engine, tmpDir } from '../support/harness.js';

const run = promisify(execFile);

async function call(method: string, p: string, token: string | undefined, body?: unknown) {
  const res = await fetch(engine().url + p, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('registries admin API', () => {
  let write: string;
  let read: string;
  before(async () => {
    write = await engine().token('registries:write', { sub: 'admin-1' });
    read = await engine().token('registries:read');
  });

  it('creates a record with PUT (201), replaces it (200) keeping inserted_at, and reads it back', async () => {
    const le = { type: 'PRIMARY_CARE', status: 'ACTIVE', name: 'Clinic' };
    const created = await call('PUT', '/api/registries/legal_entities/le-reg-1', write, le);
    expect(created.status).to.equal(201);
    expect(created.body.data).to.include({ id: 'le-reg-1', type: 'PRIMARY_CARE', status: 'ACTIVE', inserted_by: 'admin-1' });
    expect(created.body.meta).to.include({ code: 201, type: 'object' });
    const replaced = await call('PUT', '/api/registries/legal_entities/le-reg-1', write, { ...le, status: 'CLOSED' });
    expect(replaced.status).to.equal(200);
    expect(replaced.body.data.status).to.equal('CLOSED');
    expect(replaced.body.data.inserted_at).to.equal(created.body.data.inserted_at);
    const got = await call('GET', '/api/registries/legal_entities/le-reg-1', read);
    expect(got.status).to.equal(200);
    expect(got.body.data.status).to.equal('CLOSED');
  });

  it('rejects invalid records with 422 validation_failed naming each problem, and writes nothing', async () => {
    const res = await call('POST', '/api/registries/medications', write, [
      { id: 'med-ok', name: 'Ok', type: 'INNM_DOSAGE', is_active: true, ingredients: [{ id: 'innm-1', is_primary: true, dosage: { numerator_unit: 'MG', numerator_value: 500, denumerator_unit: 'PILL', denumerator_value: 1 } }] },
      { id: 'med-bad', name: 'Bad', type: 'GENERIC', is_active: 'yes', ingredients: [{ id: 'innm-1', is_primary: true, dosage: { numerator_unit: 'MG' } }] },
    ]);
    expect(res.status).to.equal(422);
    expect(res.body.error.type).to.equal('validation_failed');
    const entries = res.body.error.invalid.map((e: { entry: string }) => e.entry);
    expect(entries).to.include.members(['$[1].type', '$[1].is_active', '$[1].ingredients[0].dosage.numerator_value']);
    const type = res.body.error.invalid.find((e: { entry: string }) => e.entry === '$[1].type');
    expect(type.rules[0]).to.include({ rule: 'inclusion', description: 'value is not allowed in enum' });
    expect((await call('GET', '/api/registries/medications/med-ok', read)).status).to.equal(404);
  });

  it('requires lowercase medical program settings keys', async () => {
    const res = await call('PUT', '/api/registries/medical_programs/mp-upper', write, {
      name: 'Program',
      is_active: true,
      medical_program_settings: { SPECIALITY_TYPES_ALLOWED: ['THERAPIST'] },
    });
    expect(res.status).to.equal(422);
  });

  it('bulk-upserts idempotently and lists with filters and paging', async () => {
    const employees = [1, 2, 3].map((i) => ({
      id: `emp-reg-${i}`,
      party_id: 'party-reg',
      legal_entity_id: i === 3 ? 'le-other' : 'le-reg-1',
      employee_type: 'DOCTOR',
      status: 'APPROVED',
      is_active: true,
      speciality: { speciality: 'THERAPIST', speciality_officio: true },
    }));
    const first = await call('POST', '/api/registries/employees', write, employees);
    expect(first.status).to.equal(200);
    expect(first.body.data).to.deep.equal({ inserted: 3, updated: 0, unchanged: 0 });
    const again = await call('POST', '/api/registries/employees', write, { data: employees });
    expect(again.body.data).to.deep.equal({ inserted: 0, updated: 0, unchanged: 3 });
    const list = await call('GET', '/api/registries/employees?legal_entity_id=le-reg-1&page_size=1', read);
    expect(list.status).to.equal(200);
    expect(list.body.meta.type).to.equal('list');
    expect(list.body.data).to.have.length(1);
    expect(list.body.paging).to.include({ total_entries: 2, total_pages: 2 });
  });

  it('enforces scopes: read without write cannot change, no token is 401, unknown registry is 404', async () => {
    expect((await call('PUT', '/api/registries/patients/p-x', read, { status: 'active' })).status).to.equal(403);
    expect((await call('GET', '/api/registries/patients/p-x', undefined)).status).to.equal(401);
    expect((await call('GET', '/api/registries/nope', read)).status).to.equal(404);
    const other = await engine().token('care_plan:write');
    const forbidden = await call('GET', '/api/registries', other);
    expect(forbidden.status).to.equal(403);
  });

  it('deletes a record', async () => {
    await call('PUT', '/api/registries/patients/p-del', write, { status: 'active' });
    expect((await call('DELETE', '/api/registries/patients/p-del', write)).status).to.equal(204);
    expect((await call('GET', '/api/registries/patients/p-del', read)).status).to.equal(404);
  });

  it('loads a directory of files with the CLI (`registries load`), validating everything first', async function () {
    this.timeout(60_000);
    const dir = path.join(tmpDir(), `registry-files-${Date.now()}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'patients.json'), JSON.stringify([{ id: 'cli-p1', status: 'active' }, { id: 'cli-p2', status: 'inactive' }]));
    fs.writeFileSync(
      path.join(dir, 'bundle.json'),
      JSON.stringify({ services: [{ id: 'cli-s1', name: 'X-ray', code: 'XR1', is_active: true }], service_groups: [{ id: 'cli-g1', name: 'Imaging', code: 'IMG', is_active: true }] }),
    );
    const dbName = `test_cli_${Date.now()}`;
    const env = { ...process.env, MONGODB_URI: databaseUri(), MONGODB_DATABASE: dbName, DATA_DIR: dir + '-data', LOG_LEVEL: 'silent' };
    const cli = ['--import', 'tsx', 'src/cli/main.ts', 'registries', 'load', dir];
    const out = await run(process.execPath, cli, { env });
    expect(out.stdout).to.contain('patients: 2 inserted');
    expect(out.stdout).to.contain('services: 1 inserted');
    const again = await run(process.execPath, cli, { env });
    expect(again.stdout).to.contain('patients: 0 inserted, 0 updated, 2 unchanged');

    fs.writeFileSync(path.join(dir, 'zz-bad.json'), JSON.stringify({ patients: [{ id: 'cli-p3', status: 'dead' }] }));
    let failed: { code?: number; stderr?: string } | undefined;
    try {
      await run(process.execPath, cli, { env });
    } catch (err) {
      failed = err as { code?: number; stderr?: string };
    }
    expect(failed?.code).to.equal(1);
    expect(failed?.stderr).to.contain('zz-bad.json:$.patients[0].status: value is not allowed in enum');
    const client = await MongoClient.connect(databaseUri());
    try {
      const n = await client.db(dbName).collection('registry_patients').countDocuments({});
      expect(n).to.equal(2);
    } finally {
      await client.close();
    }
  });
});
