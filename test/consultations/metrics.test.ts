import { expect } from 'chai';
import { engine } from '../support/harness.js';
import { api, completedConsultation, createConsultation, makeReferral, ok, tokens, uniqueOrg, type Tokens } from './support.js';

describe('consultations: WAITING_TIME and TREATMENT_DURATION', () => {
  let t: Tokens;
  before(async () => {
    t = await tokens(engine());
  });

  it('are stored per consultation, aggregated per day and organization, and exported as Prometheus histograms', async () => {
    const eng = engine();
    const org = uniqueOrg('org-metrics');
    const done = [await completedConsultation(eng, t, org, 'dr-metrics-1'), await completedConsultation(eng, t, org, 'dr-metrics-2')];
    const { serviceRequestId } = await makeReferral(eng, org);
    await createConsultation(eng, t.supervisor, serviceRequestId); // waiting, no metrics yet
    for (const c of done) {
      expect(c.metrics.waiting_time_seconds).to.be.closeTo((Date.parse(c.starts_at) - Date.parse(c.created_at)) / 1000, 0.001);
      expect(c.metrics.treatment_duration_seconds).to.be.closeTo((Date.parse(c.ends_at) - Date.parse(c.starts_at)) / 1000, 0.001);
    }
    const waits = done.map((c) => c.metrics.waiting_time_seconds as number).sort((a, b) => a - b);
    const treats = done.map((c) => c.metrics.treatment_duration_seconds as number).sort((a, b) => a - b);
    const r3 = (n: number) => Math.round(n * 1000) / 1000;
    const today = new Date().toISOString().slice(0, 10);

    const groups = await ok(api(eng, 'GET', `/api/consultations/metrics?organization_id=${org}`, t.reader));
    expect(groups).to.have.length(1);
    expect(groups[0]).to.deep.include({ day: today, organization_id: org, consultations: 3, by_state: { completed: 2, ready_for_pickup: 1 } });
    expect(groups[0].waiting_time).to.deep.equal({
      count: 2,
      avg_seconds: r3((waits[0] + waits[1]) / 2),
      min_seconds: r3(waits[0]),
      max_seconds: r3(waits[1]),
      p50_seconds: r3(waits[0]),
      p90_seconds: r3(waits[1]),
    });
    expect(groups[0].treatment_duration).to.include({ count: 2, min_seconds: r3(treats[0]), max_seconds: r3(treats[1]) });

    const byOrg = await ok(api(eng, 'GET', `/api/consultations/metrics?organization_id=${org}&group_by=organization`, t.reader));
    expect(byOrg[0]).not.to.have.property('day');
    expect(byOrg[0].organization_id).to.equal(org);
    const bad = await api(eng, 'GET', '/api/consultations/metrics?group_by=week', t.reader);
    expect(bad.status).to.equal(422);
    expect(bad.body.error.invalid[0].entry).to.equal('$.group_by');

    const text = await (await fetch(`${eng.url}/metrics`)).text();
    expect(text).to.match(new RegExp(`consultation_waiting_time_seconds_count\\{organization="${org}"\\} 2`));
    expect(text).to.match(new RegExp(`consultation_treatment_duration_seconds_count\\{organization="${org}"\\} 2`));
    expect(text).to.match(/consultation_transitions_total\{action="pick",outcome="applied"\} \d+/);
  });
});
