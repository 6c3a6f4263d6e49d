import { expect } from 'chai';
import { AGENDA_COLLECTION } from '../../src/jobs/job-runner.js';
import { JobFailure, type JobDefinition } from '../../src/jobs/types.js';
import { startTestEngine, type TestEngine } from '../support/harness.js';

/** Jobs of this test's own, run by the engine's real job runner (Agenda + the jobs collection). */
let flakyRuns = 0;
let countedRuns = 0;
let atOnceFlakyRuns = 0;
const testJobs: JobDefinition<any>[] = [
  {
    name: 'test.counted',
    description: 'counts its runs',
    create: () => async () => {
      countedRuns++;
      await new Promise((r) => setTimeout(r, 200));
      return { status_code: 200, response_data: { runs: countedRuns } };
    },
  },
  {
    name: 'test.always-throws',
    description: 'throws on every run',
    options: { maxAttempts: 3, backoffMs: 50 },
    create: () => async () => {
      throw new Error('boom');
    },
  },
  {
    name: 'test.flaky',
    description: 'fails twice, then succeeds',
    options: { maxAttempts: 3, backoffMs: 50 },
    create: () => async (data: { id: string }) => {
      flakyRuns++;
      if (flakyRuns < 3) throw new Error('transient');
      return { status_code: 200, links: [{ entity: 'thing', href: `/api/things/${data.id}` }] };
    },
  },
  {
    name: 'test.business-failure',
    description: 'ends failed with a 422 body',
    create: () => async () => {
      throw new JobFailure(422, { type: 'validation_failed', message: 'Validation failed', invalid: [] });
    },
  },
  {
    name: 'test.conflict',
    description: 'ends failed with 409',
    create: () => async () => {
      throw new JobFailure(409, 'Does not match the signer drfo');
    },
  },
  {
    name: 'test.response-data',
    description: 'returns response data',
    create: () => async (data: unknown, job) => {
      await job.progress(50, 'half way');
      return { status_code: 200, response_data: { echoed: data } };
    },
  },
  {
    name: 'test.at-once',
    description: 'runs in the enqueuing engine; slow enough to be watched while running',
    options: { runAtOnce: true },
    create: () => async () => {
      await new Promise((r) => setTimeout(r, 400));
      return { status_code: 200, response_data: { ok: true } };
    },
  },
  {
    name: 'test.at-once-flaky',
    description: 'runs in the enqueuing engine; fails twice, then succeeds',
    options: { runAtOnce: true, maxAttempts: 3, backoffMs: 50 },
    create: () => async () => {
      atOnceFlakyRuns++;
      if (atOnceFlakyRuns < 3) throw new Error('transient');
      return { status_code: 200, response_data: { runs: atOnceFlakyRuns } };
    },
  },
  {
    name: 'test.at-once-failure',
    description: 'runs in the enqueuing engine; ends failed with 422',
    options: { runAtOnce: true },
    create: () => async () => {
      throw new JobFailure(422, { type: 'validation_failed', message: 'Validation failed', invalid: [] });
    },
  },
  {
    name: 'test.slow',
    description: 'waits until released',
    create: () => async () => {
      await new Promise((r) => setTimeout(r, 400));
      return { status_code: 200, response_data: { ok: true } };
    },
  },
];

async function waitForStatus(e: TestEngine, token: string, id: string, statuses: string[], ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const res = await fetch(`${e.url}/api/jobs/${id}?details=true`, { headers: { authorization: `Bearer ${token}` } });
    const body = ((await res.json()) as any);
    if (statuses.includes(body.data?.status)) return body.data;
    if (Date.now() > end) throw new Error(`job ${id} still ${body.data?.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('jobs: runner and API', function () {
  let e: TestEngine;
  let token: string;
  let adminToken: string;

  before(async () => {
    e = await startTestEngine({ extraJobDefinitions: testJobs, env: { JOBS_POLL_INTERVAL_MS: '100' } });
    token = await e.token('job:read', { clientId: 'le-1' });
    adminToken = await e.token('job:read admin', { clientId: 'le-1' });
  });
  after(async () => e.stop());

  const get = (id: string, t = token) => fetch(`${e.url}/api/jobs/${id}`, { headers: { authorization: `Bearer ${t}` }, redirect: 'manual' });

  it('a job that throws is retried, then marked failed, and re-runs on request', async () => {
    const { id } = await e.ctx.jobs.enqueue('test.always-throws', {}, { owner: { clientId: 'le-1' } });
    const failed = await waitForStatus(e, token, id, ['failed']);
    expect(failed.attempts).to.equal(3);
    expect(failed.status_code).to.equal(500);
    expect(failed.last_error).to.equal('boom');

    const res = await get(id);
    expect(res.status).to.equal(200);
    const body = ((await res.json()) as any);
    expect(body.data).to.deep.include({ status: 'failed', status_code: 500 });
    expect(body.data.error).to.deep.equal({ type: 'internal_error', message: 'Job failed after retries' });
    expect(body.meta).to.include({ code: 200, type: 'object' });

    const rerun = await fetch(`${e.url}/api/jobs/${id}/rerun`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } });
    expect(rerun.status).to.equal(202);
    const again = await waitForStatus(e, token, id, ['failed']);
    expect(again.attempts).to.equal(3);
    expect(new Date(again.finished_at).getTime()).to.be.greaterThan(new Date(failed.finished_at).getTime());
  });

  it('a transient failure is retried with backoff and then processed: 303 with links', async () => {
    const { id } = await e.ctx.jobs.enqueue('test.flaky', { id: 'x1' }, { owner: { clientId: 'le-1' } });
    const done = await waitForStatus(e, token, id, ['processed', 'failed']);
    expect(done.status).to.equal('processed');
    expect(done.attempts).to.equal(3);
    const res = await get(id);
    expect(res.status).to.equal(303);
    expect(res.headers.get('location')).to.equal('/api/things/x1');
    const body = ((await res.json()) as any);
    expect(body.data).to.deep.equal({ eta: body.data.eta, status: 'processed', status_code: 200, links: [{ entity: 'thing', href: '/api/things/x1' }] });
    expect(body.data.eta).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,6}Z$/);
  });

  it('a processed job leaves no Agenda document behind; a failed one keeps its own, marked failed, for operators', async () => {
    const agendaDocs = (id: string) => e.ctx.database.db.collection('agendaJobs').countDocuments({ 'data.jobId': id });
    const ok = await e.ctx.jobs.enqueue('test.response-data', { n: 2 }, { owner: { clientId: 'le-agenda' } });
    const failed = await e.ctx.jobs.enqueue('test.always-throws', {}, { owner: { clientId: 'le-agenda' } });
    const agendaToken = await e.token('job:read', { clientId: 'le-agenda' });
    await waitForStatus(e, agendaToken, ok.id, ['processed']);
    const f = await waitForStatus(e, agendaToken, failed.id, ['failed']);
    expect(f.attempts).to.equal(3);
    for (let i = 0; i < 50 && (await agendaDocs(ok.id)) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await agendaDocs(ok.id)).to.equal(0);
    // Agenda saves the failure right after the run that recorded the job failed.
    const agendaFailed = async () => e.ctx.database.db.collection('agendaJobs').find({ 'data.jobId': failed.id }).toArray();
    const markedFailed = async () => (await agendaFailed()).some((a) => typeof a.failReason === 'string' && a.failReason.startsWith('failed after 3 attempts'));
    for (let i = 0; i < 50 && !(await markedFailed()); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await markedFailed()).to.equal(true);
  });

  it('business failures are not retried and answer the eHealth error shapes', async () => {
    const a = await e.ctx.jobs.enqueue('test.business-failure', {}, { owner: { clientId: 'le-1' } });
    const b = await e.ctx.jobs.enqueue('test.conflict', {}, { owner: { clientId: 'le-1' } });
    const fa = await waitForStatus(e, token, a.id, ['failed']);
    await waitForStatus(e, token, b.id, ['failed']);
    expect(fa.attempts).to.equal(1);
    const ra = ((await (await get(a.id)).json()) as any);
    expect(ra.data).to.deep.include({ status: 'failed', status_code: 422 });
    expect(ra.data.error).to.deep.equal({ type: 'validation_failed', message: 'Validation failed', invalid: [] });
    const rb = ((await (await get(b.id)).json()) as any);
    expect(rb.data.error).to.deep.equal({ type: 'request_conflict', message: 'Does not match the signer drfo' });
  });

  it('response_data answers 200 and progress is recorded', async () => {
    const { id } = await e.ctx.jobs.enqueue('test.response-data', { n: 1 }, { owner: { clientId: 'le-1' } });
    const done = await waitForStatus(e, token, id, ['processed']);
    expect(done.progress).to.deep.equal({ percent: 50, message: 'half way' });
    const res = await get(id);
    expect(res.status).to.equal(200);
    expect((((await res.json()) as any)).data).to.deep.include({ status: 'processed', status_code: 200, response_data: { echoed: { n: 1 } } });
  });

  describe('a job run at once by the engine that enqueued it', () => {
    const queued = (id: string) => e.ctx.database.db.collection(AGENDA_COLLECTION).findOne({ 'data.jobId': id });

    it('leaves the queue only a fallback run after the lock lifetime, removed when the job is processed', async () => {
      const { id } = await e.ctx.jobs.enqueue('test.at-once', {});
      const running = await waitForStatus(e, adminToken, id, ['processing']);
      expect(running.attempts).to.equal(1);
      const fallback = await queued(id);
      expect(fallback?.nextRunAt?.getTime(), 'fallback scheduled after the lock lifetime').to.be.greaterThan(Date.now() + e.config.jobs.lockLifetimeMs - 60_000);
      const done = await waitForStatus(e, adminToken, id, ['processed', 'failed']);
      expect(done).to.deep.include({ status: 'processed', attempts: 1 });
      expect(await queued(id)).to.equal(null);
    });

    it('is retried through the queue after a transient failure', async () => {
      const { id } = await e.ctx.jobs.enqueue('test.at-once-flaky', {});
      const done = await waitForStatus(e, adminToken, id, ['processed', 'failed']);
      expect(done).to.deep.include({ status: 'processed', attempts: 3 });
      expect(done.result).to.deep.equal({ response_data: { runs: 3 } });
    });

    it('keeps the queue entry of a failed job, marked failed and never run again', async () => {
      const { id } = await e.ctx.jobs.enqueue('test.at-once-failure', {});
      const done = await waitForStatus(e, adminToken, id, ['processed', 'failed']);
      expect(done).to.deep.include({ status: 'failed', status_code: 422, attempts: 1 });
      for (let i = 0; i < 50 && !(await queued(id))?.failReason; i++) await new Promise((r) => setTimeout(r, 50));
      const entry = await queued(id);
      expect(entry?.failReason).to.match(/^422/);
      expect(entry?.nextRunAt).to.equal(null);
    });
  });

  it('an identical request while its job is pending gets the same job', async () => {
    const first = await e.ctx.jobs.enqueue('test.slow', {}, { hash: 'same-request' });
    const second = await e.ctx.jobs.enqueue('test.slow', {}, { hash: 'same-request' });
    expect({ id: second.id, existing: second.existing }).to.deep.equal({ id: first.id, existing: true });
    expect(second.job._id.toHexString()).to.equal(first.id);
    expect(['pending', 'processing']).to.include(second.job.status);
    const pending = await get(first.id, adminToken);
    const body = ((await pending.json()) as any);
    expect(body.data).to.deep.equal({ eta: body.data.eta, status: 'pending', links: [{ entity: 'job', href: `/api/jobs/${first.id}` }] });
    await waitForStatus(e, adminToken, first.id, ['processed']);
    const third = await e.ctx.jobs.enqueue('test.slow', {}, { hash: 'same-request' });
    expect(third.existing).to.equal(false);
    expect(third.id).to.not.equal(first.id);
  });

  it('a job delivered several times at once (Agenda locks are not atomic on FerretDB) runs once', async () => {
    const { id } = await e.ctx.jobs.enqueue('test.counted', {});
    await Promise.all([1, 2, 3].map(() => e.ctx.jobs.agenda.now('test.counted', { jobId: id })));
    const done = await waitForStatus(e, adminToken, id, ['processed', 'failed']);
    await new Promise((r) => setTimeout(r, 500)); // let every duplicate delivery finish
    expect(countedRuns).to.equal(1);
    expect(done.attempts).to.equal(1);
  });

  it('lists jobs with filters and paging, limited to the token\'s legal entity', async () => {
    const res = await fetch(`${e.url}/api/jobs?name=test.always-throws&status=failed&page_size=10`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).to.equal(200);
    const body = ((await res.json()) as any);
    expect(body.data).to.have.length(1);
    expect(body.paging).to.include({ total_entries: 1, page_number: 1 });
    const other = await e.token('job:read', { clientId: 'le-2' });
    const res2 = await fetch(`${e.url}/api/jobs?name=test.always-throws`, { headers: { authorization: `Bearer ${other}` } });
    expect((((await res2.json()) as any)).data).to.have.length(0);
    const bad = await fetch(`${e.url}/api/jobs?status=weird`, { headers: { authorization: `Bearer ${token}` } });
    expect(bad.status).to.equal(422);
  });

  it('a token without a legal entity sees only the jobs it asked for itself, never other legal entities\' jobs', async () => {
    const owned = await e.ctx.jobs.enqueue('test.response-data', { secret: 'le-1 data' }, { owner: { clientId: 'le-1', userId: 'u-a' } });
    const mine = await e.ctx.jobs.enqueue('test.response-data', { mine: true }, { owner: { userId: 'u-no-le', clientId: undefined } });
    const nobodys = await e.ctx.jobs.enqueue('test.response-data', {});
    const noLe = await e.token('job:read', { sub: 'u-no-le', clientId: null });
    await waitForStatus(e, adminToken, owned.id, ['processed']);
    await waitForStatus(e, noLe, mine.id, ['processed']);
    const list = (await (await fetch(`${e.url}/api/jobs?page_size=500`, { headers: { authorization: `Bearer ${noLe}` } })).json()) as any;
    expect(list.data.map((j: { id: string }) => j.id)).to.deep.equal([mine.id]);
    expect((await get(owned.id, noLe)).status).to.equal(404);
    expect((await get(nobodys.id, noLe)).status).to.equal(404);
    expect((await get(nobodys.id, token)).status).to.equal(404);
    expect((await get(mine.id, noLe)).status).to.equal(200);
  });

  it("support staff read another legal entity's job only with support:cross_tenant and X-Target-Tenant, audited", async () => {
    const { id } = await e.ctx.jobs.enqueue('test.response-data', {}, { owner: { clientId: 'le-1' } });
    const ops = await e.token('job:read support:cross_tenant', { clientId: 'le-ops', sub: 'support-1' });
    expect((await get(id, ops)).status).to.equal(404); // without naming the tenant: its own tenant's jobs only
    const asLe1 = (t: string) => fetch(`${e.url}/api/jobs/${id}`, { headers: { authorization: `Bearer ${t}`, 'x-target-tenant': 'le-1' }, redirect: 'manual' });
    const plain = await e.token('job:read admin', { clientId: 'le-ops' });
    expect((await asLe1(plain)).status).to.equal(403);
    expect([200, 303]).to.include((await asLe1(ops)).status);
    const audit = await e.ctx.database.db.collection('operator_access').find({ user_id: 'support-1' }).toArray();
    expect(audit).to.have.length(1);
    expect(audit[0]).to.include({ acting_tenant: 'le-ops', target_tenant: 'le-1', method: 'GET', route: '/api/jobs/:id' });
  });

  it('unknown and malformed ids answer 404; another legal entity cannot read a job', async () => {
    expect((await get('5f0c8b7e9d3a2b1c4d5e6f70')).status).to.equal(404);
    expect((await get('not-an-id')).status).to.equal(404);
    const { id } = await e.ctx.jobs.enqueue('test.response-data', {}, { owner: { clientId: 'le-1' } });
    const other = await e.token('job:read', { clientId: 'le-2' });
    expect((await get(id, other)).status).to.equal(404);
  });

  it('requires job:read', async () => {
    const t = await e.token('something:else', { clientId: 'le-1' });
    const res = await get('5f0c8b7e9d3a2b1c4d5e6f70', t);
    expect(res.status).to.equal(403);
    const body = (await res.json()) as any;
    expect(body.meta).to.include({ code: 403, type: 'object' });
    expect(body.error).to.deep.equal({ type: 'forbidden', message: 'Your scope does not allow to access this resource. Missing allowances: job:read' });
  });
});
