import { expect } from 'chai';
import { engine } from '../support/harness.js';

describe('GET /metrics', () => {
  it('exposes HTTP, job, queue and database metrics in Prometheus format after traffic', async () => {
    const e = engine();
    const token = await e.token('job:read');
    await fetch(`${e.url}/api/jobs/5f0c8b7e9d3a2b1c4d5e6f70`, { headers: { authorization: `Bearer ${token}` } });
    await fetch(`${e.url}/api/jobs/5f0c8b7e9d3a2b1c4d5e6f70`);
    // An inbound message that is well-formed XML but no MsgHead: stored, rejected with an AppRec, and counted.
    const ingest = await fetch(`${e.url}/api/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await e.token('messages:write')}`, 'content-type': 'application/xml' },
      body: '<?xml version="1.0" encoding="UTF-8"?><NotAMsgHead xmlns="urn:example:nothing"/>',
    });
    expect(ingest.status).to.equal(200);
    const res = await fetch(`${e.url}/metrics`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/plain/);
    const text = await res.text();
    expect(text).to.match(/http_requests_total\{method="GET",route="\/api\/jobs\/:id",status="404"\} [1-9]/);
    expect(text).to.match(/http_requests_total\{method="GET",route="\/api\/jobs\/:id",status="401"\} [1-9]/);
    expect(text).to.match(/http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/api\/jobs\/:id"\}/);
    expect(text).to.match(/db_command_duration_seconds_count\{command="find"\} [1-9]/);
    expect(text).to.include('# TYPE job_runs_total counter');
    expect(text).to.include('# TYPE job_queue_depth gauge');
    expect(text).to.match(/ingest_messages_total\{source="henvisning",outcome="rejected"\} [1-9]/);
    expect(text).to.include('process_cpu_user_seconds_total');
  });
});
