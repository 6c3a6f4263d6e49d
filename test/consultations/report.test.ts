import { expect } from 'chai';
import ExcelJS from 'exceljs';
import { INSURER_REPORT_JOB, REPORT_COLUMNS } from '../../src/consultations/report.js';
import { engine, TEST_TENANT } from '../support/harness.js';
import type { TestEngine } from '../support/harness.js';
import { api, completedConsultation, createConsultation, makeReferral, ok, RESULT, testNationalId, tokens, uniqueOrg, type Tokens } from './support.js';

async function waitForJob(eng: TestEngine, token: string, jobId: string): Promise<any> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const job = await ok(api(eng, 'GET', `/api/jobs/${jobId}?details=true`, token));
    if (job.status === 'processed' || job.status === 'failed') return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function download(eng: TestEngine, token: string, reportId: string): Promise<ExcelJS.Worksheet> {
  const res = await fetch(`${eng.url}/api/consultations/reports/${reportId}/download`, { headers: { Authorization: `Bearer ${token}` } });
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.equal('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
  expect(res.headers.get('content-disposition')).to.match(/^attachment; filename="consultations_\d{4}-\d{2}-\d{2}_\d{4}-\d{2}-\d{2}\.xlsx"$/);
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(Buffer.from(await res.arrayBuffer()) as unknown as ArrayBuffer);
  return wb.getWorksheet('Consultations')!;
}

function rowsOf(ws: ExcelJS.Worksheet): Record<string, unknown>[] {
  const headers = (ws.getRow(1).values as unknown[]).slice(1) as string[];
  const out: Record<string, unknown>[] = [];
  ws.eachRow((row, n) => {
    if (n === 1) return;
    const values = (row.values as unknown[]).slice(1);
    out.push(Object.fromEntries(headers.map((h, i) => [h, values[i] ?? ''])));
  });
  return out;
}

describe('consultations: insurer report (XLSX job)', () => {
  const org = uniqueOrg('org-report');
  let t: Tokens;
  const today = new Date().toISOString().slice(0, 10);

  before(async () => {
    t = await tokens(engine());
  });

  it('writes one row per completed consultation with the decrypted result, waiting time and duration', async function () {
    this.timeout(60_000);
    const eng = engine();
    const minor = testNationalId(42);
    const a = await completedConsultation(eng, t, org, 'dr-report-1', { ...RESULT, patient_national_id: minor });
    const b = await completedConsultation(eng, t, org, 'dr-report-2', { icpc2: 'A04', outcome: 'helped', author_practitioner_id: 'dr-report-author' });
    // not completed: not in the report
    const { serviceRequestId } = await makeReferral(eng, org);
    const open = await createConsultation(eng, t.supervisor, serviceRequestId);
    // another organization: not in this organization's report
    const foreign = await completedConsultation(eng, t, uniqueOrg('org-report-other'), 'dr-report-1');

    const res = await api(eng, 'POST', '/api/consultations/reports', t.resultReader, { from: today, to: today, organization_id: org });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const report = res.body.data;
    expect(report).to.include({ status: 'pending', kind: 'on_demand', organization_id: org, from: `${today}T00:00:00.000Z` });
    expect(res.headers.get('location')).to.equal(`/api/jobs/${report.job_id}`);

    const job = await waitForJob(eng, t.resultReader, report.job_id);
    expect(job).to.include({ name: INSURER_REPORT_JOB, status: 'processed', status_code: 200 });
    expect(job.progress).to.deep.equal({ percent: 100, message: '2 rows' });
    expect(job.result.links).to.deep.equal([{ entity: 'consultation_report', href: `/api/consultations/reports/${report.id}` }]);
    expect(JSON.stringify(job)).not.to.contain(RESULT.notes);

    const ready = await ok(api(eng, 'GET', `/api/consultations/reports/${report.id}`, t.resultReader));
    expect(ready).to.include({ status: 'ready', row_count: 2, download_href: `/api/consultations/reports/${report.id}/download` });

    const ws = await download(eng, t.resultReader, report.id);
    expect((ws.getRow(1).values as unknown[]).slice(1)).to.deep.equal(REPORT_COLUMNS.map((c) => c.header));
    const rows = rowsOf(ws);
    expect(rows.map((r) => r['Consultation id'])).to.deep.equal([a.id, b.id]);
    expect(rows.map((r) => r['Consultation id'])).not.to.include.members([open.id, foreign.id]);

    const [ra, rb] = rows;
    const patientA = await eng.ctx.fhir.forTenant(TEST_TENANT).read('Patient', a.patient_id);
    expect(ra).to.deep.include({
      'Referral (ServiceRequest) id': a.service_request_id,
      'Organization id': org,
      'Practitioner id': 'dr-report-1',
      'ICPC-2': 'R74',
      Outcome: 'referred_gp',
      'User national id': (patientA as { identifier: { value: string }[] }).identifier[0].value,
      'Patient national id (if not the user)': minor,
      'Patient job description': RESULT.patient_job_description,
      'Author practitioner id': 'dr-report-1',
      Notes: RESULT.notes,
      'Insurance policy number': RESULT.policy_number,
      'Waiting time (s)': Math.round(a.metrics.waiting_time_seconds),
      'Treatment duration (s)': Math.round(a.metrics.treatment_duration_seconds),
    });
    expect(String(ra['ICPC-2 text'])).to.match(/\w/); // the display text from the ICPC2 dictionary
    expect((ra['Started at (UTC)'] as Date).toISOString()).to.equal(a.starts_at);
    expect((ra['Ended at (UTC)'] as Date).toISOString()).to.equal(a.ends_at);
    expect(rb).to.deep.include({
      'ICPC-2': 'A04',
      Outcome: 'helped',
      'Patient national id (if not the user)': '',
      'Patient job description': '',
      'Author practitioner id': 'dr-report-author',
      Notes: '',
      'Insurance policy number': '',
    });

    // a range without completed consultations gives an empty report
    const empty = await api(eng, 'POST', '/api/consultations/reports', t.resultReader, { from: '2020-01-01', to: '2020-01-31', organization_id: org });
    expect((await waitForJob(eng, t.resultReader, empty.body.data.job_id)).status).to.equal('processed');
    expect(rowsOf(await download(eng, t.resultReader, empty.body.data.id))).to.have.length(0);

    // listing
    const list = await api(eng, 'GET', '/api/consultations/reports?page_size=100', t.resultReader);
    expect(list.body.data.map((r: { id: string }) => r.id)).to.include.members([report.id, empty.body.data.id]);
  });

  it('validates the range and refuses downloads before the report is ready', async () => {
    const eng = engine();
    const bad = [
      [{ from: '2024-02-10', to: '2024-02-01' }, '$.to'],
      [{ from: '2024-02-30', to: '2024-03-01' }, '$.from'],
      [{ from: '2020-01-01', to: '2024-01-01' }, '$.to'],
      [{ to: '2024-01-01' }, '$.from'],
    ] as const;
    for (const [body, entry] of bad) {
      const res = await api(eng, 'POST', '/api/consultations/reports', t.resultReader, body);
      expect(res.status, JSON.stringify(body)).to.equal(422);
      expect(res.body.error.invalid.map((i: { entry: string }) => i.entry)).to.include(entry);
    }
    const reports = eng.ctx.database.db.collection('consultation_reports');
    await reports.insertOne({ _id: 'report-pending-test', status: 'pending', client_id: TEST_TENANT, from: new Date(), to: new Date(), created_at: new Date(), updated_at: new Date() } as never);
    const early = await api(eng, 'GET', '/api/consultations/reports/report-pending-test/download', t.resultReader);
    expect(early.status).to.equal(409);
    expect(early.body.error.message).to.equal('Report report-pending-test is pending; it can be downloaded once ready');
    expect((await api(eng, 'GET', '/api/consultations/reports/nope', t.resultReader)).status).to.equal(404);
  });

  it('the daily run reports the previous UTC day and is scheduled on Agenda', async function () {
    this.timeout(30_000);
    const eng = engine();
    const scheduled = await eng.ctx.database.db.collection('agendaJobs').findOne({ name: INSURER_REPORT_JOB, repeatInterval: { $exists: true } });
    expect(scheduled?.repeatInterval).to.equal('0 2 * * *');
    // A consultation of this legal entity that ended yesterday (the daily run makes one report per legal entity).
    const yesterdayNoon = new Date(`${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}T12:00:00.000Z`);
    const moved = await eng.ctx.database.db.collection('consultations').updateOne({ tenant: TEST_TENANT, state: 'completed' }, { $set: { ends_at: yesterdayNoon } });
    expect(moved.modifiedCount).to.equal(1);
    const { id } = await eng.ctx.jobs.enqueue(INSURER_REPORT_JOB, { daily: true });
    // A scheduled run belongs to no legal entity: only operators (scope admin) see it in the jobs API.
    expect((await waitForJob(eng, await eng.token('job:read admin'), id)).status).to.equal('processed');
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    // One daily report per legal entity that completed consultations that day.
    const daily = await ok(api(eng, 'GET', `/api/consultations/reports/daily-${TEST_TENANT}-${yesterday}`, t.resultReader));
    expect(daily).to.include({ kind: 'daily', status: 'ready', from: `${yesterday}T00:00:00.000Z`, to: `${today}T00:00:00.000Z` });
  });
});

describe('consultations: insurer reports stay with the legal entity that asked for them', () => {
  it('another legal entity neither lists, reads nor downloads them', async function () {
    this.timeout(30_000);
    const eng = engine();
    const insurerA = await eng.token('consultations:read consultation_result:read job:read', { sub: 'analyst-a', clientId: 'INS-A' });
    const insurerB = await eng.token('consultations:read consultation_result:read job:read', { sub: 'analyst-b', clientId: 'INS-B' });
    const today = new Date().toISOString().slice(0, 10);
    const created = await api(eng, 'POST', '/api/consultations/reports', insurerA, { from: today, to: today, organization_id: uniqueOrg('org-tenant') });
    expect(created.status).to.equal(202);
    const id = created.body.data.id as string;
    const listA = await api(eng, 'GET', '/api/consultations/reports?page_size=500', insurerA);
    expect(listA.body.data.map((r: { id: string }) => r.id)).to.include(id);
    const listB = await api(eng, 'GET', '/api/consultations/reports?page_size=500', insurerB);
    expect(listB.body.data.map((r: { id: string }) => r.id)).to.not.include(id);
    expect((await api(eng, 'GET', `/api/consultations/reports/${id}`, insurerB)).status).to.equal(404);
    expect((await api(eng, 'GET', `/api/consultations/reports/${id}/download`, insurerB)).status).to.equal(404);
    expect((await api(eng, 'GET', `/api/consultations/reports/${id}`, insurerA)).status).to.equal(200);
  });
});
