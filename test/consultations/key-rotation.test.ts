import { runCli, type CliResult } from '../support/cli.js';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import ExcelJS from 'exceljs';
import { startTestEngine, type TestEngine } from '../support/harness.js';
import { api, completedConsultation, ok, RESULT, testNationalId, tokens } from './support.js';


async function keysCli(eng: TestEngine, env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  return runCli(eng, ['keys', ...args], { LOG_LEVEL: 'silent', ...env });
}

async function reportRows(eng: TestEngine, token: string, reportId: string): Promise<string[]> {
  const res = await fetch(`${eng.url}/api/consultations/reports/${reportId}/download`, { headers: { Authorization: `Bearer ${token}` } });
  expect(res.status).to.equal(200);
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(Buffer.from(await res.arrayBuffer()) as unknown as ArrayBuffer);
  const notes: string[] = [];
  wb.getWorksheet('Consultations')!.eachRow((row, n) => {
    if (n > 1) notes.push(String(row.getCell(18).value ?? ''));
  });
  return notes;
}

describe('consultations: key rotation', () => {
  const k1 = `k1:${randomBytes(32).toString('base64')}`;
  const k2 = `k2:${randomBytes(32).toString('base64')}`;
  const engines: TestEngine[] = [];
  after(async () => {
    for (const e of engines) await e.stop().catch(() => {});
  });

  it('keys rotate re-encrypts every result and report with the active key; all stay readable without the old key', async function () {
    this.timeout(180_000);
    const base = { CONSULTATION_REPORT_SCHEDULE: 'off', JOBS_POLL_INTERVAL_MS: '200' };
    const e1 = await startTestEngine({ env: { ...base, ENCRYPTION_KEYS: k1 } });
    engines.push(e1);
    const t1 = await tokens(e1);
    const expected = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < 3; i++) {
      const result = { ...RESULT, notes: `rotation note ${i}`, patient_national_id: testNationalId(200 + i) };
      const c = await completedConsultation(e1, t1, 'org-rotation', `dr-rot-${i}`, result);
      expected.set(c.id, { ...result, author_practitioner_id: `dr-rot-${i}` });
    }
    const today = new Date().toISOString().slice(0, 10);
    const rep = await api(e1, 'POST', '/api/consultations/reports', t1.resultReader, { from: today, to: today, organization_id: 'org-rotation' });
    expect(rep.status).to.equal(202);
    for (let i = 0; ; i++) {
      const r = await ok(api(e1, 'GET', `/api/consultations/reports/${rep.body.data.id}`, t1.resultReader));
      if (r.status === 'ready') break;
      if (i > 200) throw new Error(`report ${r.status}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    await e1.stop();

    const rotateEnv = { ENCRYPTION_KEYS: `${k1},${k2}`, ENCRYPTION_ACTIVE_KEY_ID: 'k2' };
    const before = await keysCli(e1, rotateEnv, 'status');
    expect(before.code, before.stderr).to.equal(0);
    expect(before.stdout).to.contain('active key: k2');
    expect(before.stdout).to.contain('consultation results: k1=3');
    expect(before.stdout).to.contain('insurer reports: k1=1');

    const dry = await keysCli(e1, rotateEnv, 'rotate', '--dry-run');
    expect(dry.stdout).to.contain('consultation results: 3 to re-encrypt');

    const rotated = await keysCli(e1, rotateEnv, 'rotate', '--batch-size', '2');
    expect(rotated.code, rotated.stderr).to.equal(0);
    expect(rotated.stdout).to.contain('consultation results: 3 found, 3 re-encrypted, 0 failed');
    expect(rotated.stdout).to.contain('insurer reports: 1 found, 1 re-encrypted, 0 failed');
    const again = await keysCli(e1, rotateEnv, 'rotate');
    expect(again.stdout).to.contain('consultation results: 0 found, 0 re-encrypted, 0 failed');
    const after = await keysCli(e1, rotateEnv, 'status');
    expect(after.stdout).to.contain('consultation results: k2=3');

    // An engine that no longer has k1 at all reads everything.
    const e2 = await startTestEngine({
      env: { ...base, ENCRYPTION_KEYS: k2, MONGODB_DATABASE: e1.config.mongodbDatabase, DATA_DIR: e1.config.dataDir },
    });
    engines.push(e2);
    const t2 = await tokens(e2);
    for (const [id, result] of expected) {
      const c = await ok(api(e2, 'GET', `/api/consultations/${id}`, t2.resultReader));
      expect(c.result).to.include(result);
    }
    const raw = await e2.ctx.database.db.collection('consultations').find({ organization_id: 'org-rotation' }).toArray();
    for (const d of raw) for (const v of Object.values(d.result.fields)) expect(v).to.match(/^enc1\.k2\./);
    expect((await reportRows(e2, t2.resultReader, rep.body.data.id)).sort()).to.deep.equal(['rotation note 0', 'rotation note 1', 'rotation note 2']);
  });

  it('an engine missing the key of a record says so instead of failing the request', async function () {
    this.timeout(60_000);
    const e = await startTestEngine({ env: { CONSULTATION_REPORT_SCHEDULE: 'off', ENCRYPTION_KEYS: k1 } });
    engines.push(e);
    const t = await tokens(e);
    const c = await completedConsultation(e, t, 'org-rotation-missing', 'dr-rot-x');
    await e.stop();
    const e2 = await startTestEngine({ env: { CONSULTATION_REPORT_SCHEDULE: 'off', ENCRYPTION_KEYS: k2, MONGODB_DATABASE: e.config.mongodbDatabase, DATA_DIR: e.config.dataDir } });
    engines.push(e2);
    const res = await ok(api(e2, 'GET', `/api/consultations/${c.id}`, (await tokens(e2)).resultReader));
    expect(res.result).to.deep.equal({ recorded: true, recorded_at: c.ends_at, decryption_error: 'Encryption key "k1" is not configured' });
  });

  it('in the embedded default mode, rotate --new-local-key adds a local key and re-encrypts with it', async function () {
    this.timeout(120_000);
    const e = await startTestEngine({ env: { CONSULTATION_REPORT_SCHEDULE: 'off' } });
    engines.push(e);
    const t = await tokens(e);
    const c = await completedConsultation(e, t, 'org-rotation-local', 'dr-rot-local');
    const oldKid = (await e.ctx.database.db.collection('consultations').findOne({ _id: c.id }))!.result.kid;
    await e.stop();
    const out = await keysCli(e, {}, 'rotate', '--new-local-key');
    expect(out.code, out.stderr).to.equal(0);
    expect(out.stdout).to.contain('consultation results: 1 found, 1 re-encrypted, 0 failed');
    const e2 = await startTestEngine({ env: { CONSULTATION_REPORT_SCHEDULE: 'off', MONGODB_DATABASE: e.config.mongodbDatabase, DATA_DIR: e.config.dataDir } });
    engines.push(e2);
    const raw = await e2.ctx.database.db.collection('consultations').findOne({ _id: c.id });
    expect(raw!.result.kid).not.to.equal(oldKid);
    expect(e2.ctx.fieldCipher.activeKeyId).to.equal(raw!.result.kid);
    const res = await ok(api(e2, 'GET', `/api/consultations/${c.id}`, (await tokens(e2)).resultReader));
    expect(res.result).to.include({ notes: RESULT.notes, policy_number: RESULT.policy_number });
    // with ENCRYPTION_KEYS set, --new-local-key is refused
    const refused = await keysCli(e, { ENCRYPTION_KEYS: k1 }, 'rotate', '--new-local-key');
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.contain('--new-local-key is for the embedded default mode');
  });
});
