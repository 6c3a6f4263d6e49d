import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { provenanceIdOf } from '../../src/careplans/fhir.js';
import type { TestEngine } from '../support/harness.js';
import { signDer } from './pki.js';
import { http, ICD10, newWorld, startCarePlanEngine, type World } from './support.js';

describe('care plan activities: happy path', function () {
  this.timeout(60_000);
  let e: TestEngine;
  let w: World;
  before(async () => {
    e = await startCarePlanEngine();
    w = await newWorld(e);
  });
  after(async () => e?.stop());

  it('accepts a signed activity (202 + job), processes it, and stores everything the spec asks for', async () => {
    // Superseded later: an older plan with the same condition code and terms of service, already active with an activity.
    const olderPlan = w.carePlanId;
    const first = await w.run(w.activity(undefined, olderPlan), { carePlanId: olderPlan });
    expect(first.job.status).to.equal(303);
    // Not superseded: other terms of service; other condition code.
    const inpatientPlan = await w.createCarePlan({ terms: 'INPATIENT' });
    const otherCodePlan = await w.createCarePlan({ addresses: [{ system: ICD10, code: 'E10.90' }] });

    const plan = await w.createCarePlan({ addresses: [{ system: ICD10, code: 'E11.90' }, { system: ICD10, code: 'J45.90' }] });
    const planRes = await http(e, 'GET', `/api/patients/${w.patientId}/care_plans/${plan}`, w.token);
    expect(planRes.body.data.status).to.equal('new');

    const content = w.activity(undefined, plan);
    const der = await signDer(JSON.stringify(content), w.signer);
    const post = await w.postSigned(der.toString('base64'), plan);
    expect(post.status).to.equal(202);
    expect(post.body.meta).to.include({ code: 202, type: 'object' });
    expect(post.body.meta.request_id).to.be.a('string').and.not.equal('');
    expect(post.body.data.status).to.equal('pending');
    expect(post.body.data.links[0].entity).to.equal('job');
    const jobHref = post.body.data.links[0].href as string;

    const job = await w.waitJob(jobHref);
    expect(job.status).to.equal(303);
    const activityHref = `/api/patients/${w.patientId}/care_plans/${plan}/activities/${content.id}`;
    expect(job.body.data).to.deep.include({ status: 'processed', status_code: 200, links: [{ entity: 'care_plan_activity', href: activityHref }] });
    expect(job.headers.get('location')).to.equal(activityHref);

    // The activity, in the spec's response shape.
    const got = await http(e, 'GET', activityHref, w.token);
    expect(got.status).to.equal(200);
    expect(got.body.meta).to.include({ code: 200, type: 'object' });
    const a = got.body.data;
    expect(a.id).to.equal(content.id);
    expect(a.author).to.deep.equal(content.author);
    expect(a.care_plan).to.deep.equal(content.care_plan);
    expect(a.detail.status).to.equal('scheduled');
    expect(a.detail.quantity).to.deep.equal({ value: 60, system: 'MEDICATION_UNIT', code: 'PILL', unit: 'таблетка' });
    expect(a.detail.daily_amount).to.deep.equal({ value: 2, system: 'MEDICATION_UNIT', code: 'PILL', unit: 'таблетка' });
    expect(a.detail.remaining_quantity).to.deep.equal({ value: 60, system: 'MEDICATION_UNIT', code: 'PILL', unit: 'таблетка' });
    expect(a.detail.program).to.deep.equal(content.detail.program);
    expect(a.inserted_by).to.equal(w.userId);
    expect(a.inserted_at).to.match(/^\d{4}-\d\d-\d\dT/);

    // Stored document: status history, signed content link, audit fields.
    const doc = await e.ctx.database.db.collection('care_plan_activities').findOne({ _id: content.id as never });
    expect(doc!.status_history).to.have.length(1);
    expect(doc!.status_history[0]).to.include({ status: 'scheduled', inserted_by: w.userId });
    expect(doc!.signed_content_links).to.deep.equal([`${content.id}/create`]);
    expect(doc!.updated_by).to.equal(w.userId);

    // The signed original, byte-equal, from media storage and over HTTP.
    const media = await e.ctx.media.get(`${content.id}/create`);
    expect(media!.bytes.equals(der)).to.equal(true);
    const download = await fetch(`${e.url}${activityHref}/signed_content`, { headers: { authorization: `Bearer ${w.token}` } });
    expect(download.status).to.equal(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(der)).to.equal(true);

    // FHIR: the Provenance of the activity carries the signer and the signed original's hash; the CarePlan mirror is active.
    const fhirToken = await e.token('system/*.read', { clientId: w.legalEntityId });
    const prov = await http(e, 'GET', `/fhir/Provenance/${provenanceIdOf(content.id)}`, fhirToken);
    expect(prov.status, JSON.stringify(prov.body)).to.equal(200);
    expect(prov.body.target[0].reference).to.equal(`CarePlan/${plan}`);
    const signature = prov.body.signature[0];
    expect(signature.who.identifier.value).to.equal(w.employeeId);
    expect(signature.who.display).to.equal('Doctor Test');
    expect(Buffer.from(signature.data, 'base64').equals(der)).to.equal(true);
    const sha = signature.extension.find((x: { url: string }) => x.url.endsWith('/signed-content-sha256')).valueString;
    expect(sha).to.equal(createHash('sha256').update(der).digest('hex'));
    expect(sha).to.equal(media!.sha256);
    const searched = await http(e, 'GET', `/fhir/Provenance?target=CarePlan/${plan}`, fhirToken);
    expect(searched.body.entry.map((x: { resource: { id: string } }) => x.resource.id)).to.deep.equal([provenanceIdOf(content.id)]);
    const fhirPlan = await http(e, 'GET', `/fhir/CarePlan/${plan}`, fhirToken);
    expect(fhirPlan.status).to.equal(200);
    expect(fhirPlan.body.status).to.equal('active');
    expect(fhirPlan.body.activity.map((x: { id: string }) => x.id)).to.deep.equal([content.id]);
    expect(fhirPlan.body.activity[0].detail).to.deep.include({ kind: 'MedicationRequest', status: 'scheduled', doNotPerform: false });
    // FHIR's Quantity.system is an absolute URI: the eHealth dictionary name becomes its CodeSystem's canonical URL.
    expect(fhirPlan.body.activity[0].detail.quantity).to.deep.equal({
      value: 60,
      unit: 'таблетка',
      system: `${e.config.dictionaries.canonicalBase}/CodeSystem/medication-unit`,
      code: 'PILL',
    });

    // The care plan became active; the list of activities filters.
    const after = await http(e, 'GET', `/api/patients/${w.patientId}/care_plans/${plan}`, w.token);
    expect(after.body.data.status).to.equal('active');
    expect(after.body.data.status_history.map((h: { status: string }) => h.status)).to.deep.equal(['new', 'active']);
    const list = await http(e, 'GET', `${w.activitiesPath(plan)}?kind=medication_request&status=scheduled&author=${w.employeeId}`, w.token);
    expect(list.status).to.equal(200);
    expect(list.body.meta.type).to.equal('list');
    expect(list.body.data.map((x: { id: string }) => x.id)).to.deep.equal([content.id]);
    expect(list.body.paging).to.include({ total_entries: 1 });
    const none = await http(e, 'GET', `${w.activitiesPath(plan)}?kind=service_request`, w.token);
    expect(none.body.data).to.deep.equal([]);

    // The superseded plan is terminated by the Agenda job; its activity keeps its status; the others stay.
    const deadline = Date.now() + 15_000;
    let older;
    do {
      older = await http(e, 'GET', `/api/patients/${w.patientId}/care_plans/${olderPlan}`, w.token);
      if (older.body.data.status === 'terminated') break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < deadline);
    expect(older.body.data.status).to.equal('terminated');
    expect(older.body.data.status_history.map((h: { status: string }) => h.status)).to.deep.equal(['new', 'active', 'terminated']);
    const olderActivities = await http(e, 'GET', w.activitiesPath(olderPlan), w.token);
    expect(olderActivities.body.data[0].detail.status).to.equal('scheduled');
    for (const id of [inpatientPlan, otherCodePlan]) {
      expect((await http(e, 'GET', `/api/patients/${w.patientId}/care_plans/${id}`, w.token)).body.data.status).to.equal('new');
    }
    const terminationJobs = await e.ctx.jobs.jobs.find({ name: 'care_plan.terminate_superseded', 'data.care_plan_id': plan }).toArray();
    expect(terminationJobs).to.have.length(1);
    for (let i = 0; i < 100 && (await e.ctx.jobs.get(terminationJobs[0]._id.toHexString()))!.status !== 'processed'; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const terminationJob = await http(e, 'GET', `/api/jobs/${terminationJobs[0]._id.toHexString()}`, w.token);
    expect(terminationJob.body.data).to.deep.include({ status: 'processed', status_code: 200 });
    expect(terminationJob.body.data.response_data.terminated_care_plans).to.deep.equal([olderPlan]);
    const olderFhir = await http(e, 'GET', `/fhir/CarePlan/${olderPlan}`, await e.token('system/*.read', { clientId: w.legalEntityId }));
    expect(olderFhir.body.status).to.equal('revoked');
  });

  it('accepts a service_request without quantity system/code and stores remaining_quantity = quantity', async () => {
    w = await newWorld(e);
    const content = w.activity((a) => {
      a.detail.kind = 'service_request';
      a.detail.product_reference = { identifier: { type: { coding: [{ system: 'eHealth/resources', code: 'service' }] }, value: w.serviceId } };
      a.detail.quantity = { value: 3 };
      delete a.detail.daily_amount;
    });
    const { job } = await w.run(content);
    expect(job.status).to.equal(303);
    const got = await http(e, 'GET', job.body.data.links[0].href, w.token);
    expect(got.body.data.detail.quantity).to.deep.equal({ value: 3 });
    expect(got.body.data.detail.remaining_quantity).to.deep.equal({ value: 3 });
  });

  it('answers an identical request while its job is pending with that job (200), not a new one', async () => {
    w = await newWorld(e);
    const signed = (await signDer(JSON.stringify(w.activity()), w.signer)).toString('base64');
    // Hold the job pending: stop Agenda's processing while both requests arrive.
    await e.ctx.jobs.agenda.stop(false);
    let first, second;
    try {
      first = await w.postSigned(signed);
      second = await w.postSigned(signed);
    } finally {
      await e.ctx.jobs.agenda.start();
    }
    expect(first.status).to.equal(202);
    expect(second.status).to.equal(200);
    expect(second.body.meta.code).to.equal(200);
    expect(second.body.data).to.deep.equal(first.body.data);
    const job = await w.waitJob(first.body.data.links[0].href);
    expect(job.status).to.equal(303);
    expect(await e.ctx.jobs.jobs.countDocuments({ name: 'care_plan_activity.create', 'data.care_plan_id': w.carePlanId })).to.equal(1);
    // Once processed, the same request again is a new job, which fails: the activity id is taken.
    const third = await w.postSigned(signed);
    expect(third.status).to.equal(202);
    const failed = await w.waitJob(third.body.data.links[0].href);
    expect(failed.body.data.status).to.equal('failed');
    expect(failed.body.data.error.invalid[0]).to.deep.include({ entry: '$.id' });
  });
});
