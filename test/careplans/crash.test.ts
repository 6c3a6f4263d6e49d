/**
 * Crashes between processing steps. The create job has no transaction: each step is idempotent, so a run that dies
 * half way is run again and finishes once, without duplicates.
 *  - in process: the first attempt throws after each step in turn (CARE_PLAN_ACTIVITY_FAULT=<step>:throw);
 *  - a killed worker: an engine process exits (code 137) right after storing the activity; a second engine process
 *    takes the job over when its lock expires and completes it.
 */
import { startEngineProcess } from '../support/engine-process.js';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { isolatedEngineEnv, type TestEngine } from '../support/harness.js';
import { mintLocalToken } from '../../src/platform/auth/keys.js';
import { PROCESSING_STEPS } from '../../src/careplans/fault-injection.js';
import { provenanceIdOf } from '../../src/careplans/fhir.js';
import { createActivityJob } from '../../src/careplans/activity-job.js';
import { testPki, sign } from './pki.js';
import { http, newWorld, startCarePlanEngine, type World } from './support.js';

async function expectCompletedOnce(e: TestEngine, w: World, jobHref: string, activityId: string, plan: string): Promise<void> {
  const job = await w.waitJob(jobHref, 60_000);
  expect(job.status, JSON.stringify(job.body)).to.equal(303);
  const db = e.ctx.database.db;
  expect(await db.collection('care_plan_activities').countDocuments({ _id: activityId as never })).to.equal(1);
  expect(await db.collection('care_plan_activities').countDocuments({ care_plan_id: plan })).to.equal(1);
  const carePlan = await db.collection('care_plans').findOne({ _id: plan as never });
  expect(carePlan!.status).to.equal('active');
  expect(carePlan!.status_history.map((h: { status: string }) => h.status)).to.deep.equal(['new', 'active']);
  expect(await e.ctx.media.get(`${activityId}/create`)).to.not.equal(undefined);
  const jobId = jobHref.split('/').pop()!;
  const doc = await e.ctx.jobs.get(jobId);
  expect(doc!.attempts).to.be.greaterThan(1);
  // The termination job is enqueued once (hash) however often activation ran.
  const deadline = Date.now() + 15_000;
  while ((await db.collection('jobs').countDocuments({ name: 'care_plan.terminate_superseded', 'data.care_plan_id': plan, status: 'processed' })) === 0) {
    if (Date.now() > deadline) throw new Error('termination job not processed');
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(await db.collection('jobs').countDocuments({ name: 'care_plan.terminate_superseded', 'data.care_plan_id': plan })).to.equal(1);
  const provenances = await e.ctx.fhir.forTenant(w.legalEntityId).search('Provenance', { target: `CarePlan/${plan}` });
  expect(provenances.resources.map((p) => p.id)).to.deep.equal([provenanceIdOf(activityId)]);
}

describe('care plan activities: crash between steps', function () {
  this.timeout(180_000);

  describe('in process (the first attempt throws after each step)', () => {
    let e: TestEngine;
    let w: World;
    before(async () => {
      e = await startCarePlanEngine();
      w = await newWorld(e);
    });
    after(async () => e?.stop());
    afterEach(() => {
      e.ctx.config.carePlans.fault = undefined;
    });

    for (const step of PROCESSING_STEPS) {
      it(`completes once after a crash following "${step}"`, async () => {
        const plan = await w.createCarePlan({ addresses: [{ system: 'eHealth/ICD10_AM/condition_codes', code: 'J45.90' }], terms: step === 'fhir_written' ? 'INPATIENT' : 'OUTPATIENT' });
        await w.patch('medical_programs', w.programId, { medical_program_settings: {} });
        e.ctx.config.carePlans.fault = { step, mode: 'throw' };
        const content = w.activity(undefined, plan);
        const post = await w.post(content, { carePlanId: plan });
        expect(post.status).to.equal(202);
        await expectCompletedOnce(e, w, post.body.data.links[0].href, content.id, plan);
      });
    }
  });

  describe('concurrent runs (a job delivered twice; two activities at once)', () => {
    let e: TestEngine;
    let w: World;
    before(async () => {
      e = await startCarePlanEngine();
      w = await newWorld(e);
    });
    after(async () => e?.stop());

    it('two simultaneous runs of the same job store one activity, one activation, one Provenance', async () => {
      const handler = createActivityJob.create(e.ctx);
      const content = w.activity();
      const data = { patient_id: w.patientId, care_plan_id: w.carePlanId, user_id: w.userId, client_id: w.legalEntityId, signed_data: await sign(content, w.signer) };
      const handle = { id: randomUUID().replace(/-/g, '').slice(0, 24), attempt: 1, progress: async () => {} };
      const outcomes = await Promise.all([handler(data, handle), handler(data, { ...handle, attempt: 2 }), handler(data, { ...handle, attempt: 3 })]);
      for (const o of outcomes) expect(o.status_code).to.equal(200);
      const db = e.ctx.database.db;
      expect(await db.collection('care_plan_activities').countDocuments({ care_plan_id: w.carePlanId })).to.equal(1);
      const plan = await db.collection('care_plans').findOne({ _id: w.carePlanId as never });
      expect(plan!.status).to.equal('active');
      expect(plan!.status_history.map((h: { status: string }) => h.status)).to.deep.equal(['new', 'active']);
      const fhir = e.ctx.fhir.forTenant(w.legalEntityId);
      expect((await fhir.search('Provenance', { target: `CarePlan/${w.carePlanId}` })).resources).to.have.length(1);
    });

    it('two different activities posted at once on a new plan activate it once', async () => {
      const plan = await w.createCarePlan({ terms: 'INPATIENT' });
      await w.patch('medical_programs', w.programId, { medical_program_settings: {} });
      const [a, b] = await Promise.all([w.run(w.activity(undefined, plan), { carePlanId: plan }), w.run(w.activity(undefined, plan), { carePlanId: plan })]);
      expect(a.job.status, JSON.stringify(a.job.body)).to.equal(303);
      expect(b.job.status, JSON.stringify(b.job.body)).to.equal(303);
      const doc = await e.ctx.database.db.collection('care_plans').findOne({ _id: plan as never });
      expect(doc!.status_history.map((h: { status: string }) => h.status)).to.deep.equal(['new', 'active']);
      expect(await e.ctx.database.db.collection('care_plan_activities').countDocuments({ care_plan_id: plan })).to.equal(2);
      const fhirPlan = await http(e, 'GET', `/fhir/CarePlan/${plan}`, await e.token('system/*.read', { clientId: w.legalEntityId }));
      expect(fhirPlan.body.activity).to.have.length(2);
    });
  });

  describe('a killed worker process', () => {
    let observer: TestEngine;
    const children: ChildProcess[] = [];
    after(async () => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      await observer?.stop();
    });

    const startChild = (env: Record<string, string>) => startEngineProcess(env, children);

    it('is taken over by another engine after the lock expires, and completes once', async () => {
      const pki = await testPki();
      const { dataDir, database, env: base } = isolatedEngineEnv('crash');
      const env = {
        ...base,
        SIGNATURE_TRUST_ANCHORS: pki.rootPem,
        JOBS_POLL_INTERVAL_MS: '200',
        JOBS_LOCK_LIFETIME_MS: '3000',
      };
      // The observer shares the database and data directory (same token key) but runs no jobs.
      observer = await startCarePlanEngine({ MONGODB_DATABASE: database, DATA_DIR: dataDir });
      observer.token = (scope, o = {}) => mintLocalToken(dataDir, { scope, sub: o.sub ?? 'user-1', clientId: o.clientId ?? undefined, expiresIn: o.expiresIn });
      await observer.ctx.jobs.agenda.stop(false);
      const w = await newWorld(observer);
      const content = w.activity();
      const signed = await sign(content, w.signer);

      const first = await startChild({ ...env, CARE_PLAN_ACTIVITY_FAULT: 'activity_stored:exit' });
      const exited = new Promise<number | null>((resolve) => first.child.on('exit', (code) => resolve(code)));
      const post = await fetch(`${first.url}${w.activitiesPath()}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${w.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ signed_data: signed }),
      });
      expect(post.status).to.equal(202);
      const jobHref = ((await post.json()) as { data: { links: { href: string }[] } }).data.links[0].href;
      expect(await exited).to.equal(137);

      // Killed between steps: the activity is stored, the care plan not yet activated, the job still running.
      const db = observer.ctx.database.db;
      expect(await db.collection('care_plan_activities').countDocuments({ _id: content.id })).to.equal(1);
      expect((await db.collection('care_plans').findOne({ _id: w.carePlanId as never }))!.status).to.equal('new');
      expect((await observer.ctx.jobs.get(jobHref.split('/').pop()!))!.status).to.equal('processing');
      const pending = await http(observer, 'GET', jobHref, w.token);
      expect(pending.body.data.status).to.equal('pending');

      await startChild(env);
      await expectCompletedOnce(observer, w, jobHref, content.id, w.carePlanId);
    });
  });
});
