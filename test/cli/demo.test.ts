/**
 * `demo` against a running test engine: it creates the CA, signer, registry records, care plan and approval, and its
 * stdout — run as a shell script, as a newcomer pastes it — posts the signed activity and polls its job to the end.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createDemoPki } from '../../src/cli/demo/pki.js';
import { startTestEngine, tmpDir, type TestEngine } from '../support/harness.js';
import { PROJECT_ROOT, runCli } from '../support/cli.js';

const run = promisify(execFile);

describe('CLI: demo', function () {
  this.timeout(120_000);
  let e: TestEngine;
  let anchorsFile: string;
  before(async () => {
    // The engine starts trusting some other CA only; the demo adds its own to the file.
    anchorsFile = path.join(tmpDir(), `demo-anchors-${Date.now()}.pem`);
    fs.writeFileSync(anchorsFile, createDemoPki({ organisation: 'Other', signerName: 'Other', taxId: '1' }).caCertPem);
    e = await startTestEngine({ env: { SIGNATURE_TRUST_ANCHORS: anchorsFile, SIGNATURE_TRUST_RELOAD_MS: '100', JOBS_POLL_INTERVAL_MS: '200' } });
  });
  after(async () => e?.stop());

  it('sets up a demo legal entity and prints commands that post the first signed activity and poll it to processed', async () => {
    const out = path.join(tmpDir(), `demo-${Date.now()}`);
    const demo = await runCli(e, ['demo', '--url', e.url, '--out', out, '--trust'], { SIGNATURE_TRUST_ANCHORS: anchorsFile });
    expect(demo.code, demo.stderr).to.equal(0);
    for (const f of ['ca.pem', 'signer.pem', 'signer.key', 'registries.json', 'care-plan.json', 'activity.json', 'activity-request.json']) {
      expect(fs.existsSync(path.join(out, f)), f).to.equal(true);
    }
    const legalEntity = /^# Demo legal entity (\S+)/m.exec(demo.stdout)![1];
    const carePlan = /care plan (\S+) of patient (\S+);/.exec(demo.stdout)!;
    const activity = JSON.parse(fs.readFileSync(path.join(out, 'activity.json'), 'utf8'));

    // The records: every registry the rules read, the BRAND in program_medications and the INNM_DOSAGE in the activity.
    const records = JSON.parse(fs.readFileSync(path.join(out, 'registries.json'), 'utf8'));
    expect(Object.keys(records)).to.have.length(12);
    const brand = records.medications.find((m: { type: string }) => m.type === 'BRAND');
    expect(records.program_medications[0].medication_id).to.equal(brand.id);
    expect(activity.detail.product_reference.identifier.value).to.equal(brand.ingredients[0].id);
    expect(await e.ctx.registries.get('legal_entities', legalEntity)).to.include({ status: 'ACTIVE' });
    const approvalId = /approval (\S+)$/m.exec(demo.stdout)![1];
    expect(await e.ctx.registries.get('approvals', approvalId)).to.deep.include({ granted_to: records.employees[0].id, access_level: 'write', status: 'active' });

    // The CA reaches the running engine without a restart.
    expect(fs.readFileSync(anchorsFile, 'utf8')).to.include(fs.readFileSync(path.join(out, 'ca.pem'), 'utf8').trim());
    const deadline = Date.now() + 10_000;
    while (e.ctx.signatureTrust.anchors.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(e.ctx.signatureTrust.anchors).to.have.length(2);

    // The printed commands, as printed.
    const script = await run('bash', ['-euo', 'pipefail', '-c', demo.stdout], { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }, timeout: 60_000 });
    const job = JSON.parse(script.stdout);
    expect(job.data, script.stdout).to.deep.include({
      status: 'processed',
      status_code: 200,
      links: [{ entity: 'care_plan_activity', href: `/api/patients/${carePlan[2]}/care_plans/${carePlan[1]}/activities/${activity.id}` }],
    });
    const token = await e.token('care_plan:read', { sub: records.parties[0].users[0], clientId: legalEntity });
    const res = await fetch(`${e.url}${job.data.links[0].href}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).to.equal(200);
    expect(((await res.json()) as { data: { detail: object } }).data.detail).to.include({ kind: 'medication_request', status: 'scheduled' });
  });

  it('refuses --trust when the engine has no trust anchors file', async () => {
    const res = await runCli(e, ['demo', '--url', e.url, '--out', path.join(tmpDir(), `demo-${Date.now()}`), '--trust']);
    expect(res.code).to.equal(1);
    expect(res.stderr).to.include('--trust needs SIGNATURE_TRUST_ANCHORS');
  });
});
