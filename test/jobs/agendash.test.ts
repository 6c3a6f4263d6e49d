import fs from 'node:fs';
import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import { JobFailure, type JobDefinition } from '../../src/jobs/types.js';
import { startTestEngine, type TestEngine } from '../support/harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN = { username: 'operator', password: 'correct horse battery' };

const reportJob: JobDefinition = {
  name: 'test.operator-visible',
  description: 'a failed job an operator should see in Agendash (processed one-off jobs leave Agenda; failed ones stay)',
  create: () => async () => {
    throw new JobFailure(422, { type: 'validation_failed', message: 'bad input' });
  },
};

describe('operators: Agendash at /admin/jobs', function () {
  this.timeout(60_000);
  let e: TestEngine;

  before(async () => {
    e = await startTestEngine({
      env: { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password },
      extraJobDefinitions: [reportJob],
    });
    await e.ctx.jobs.enqueue('test.operator-visible', {});
  });
  after(async () => e?.stop());

  it('refuses anonymous users with a Basic challenge, wrong passwords and tokens without scope admin', async () => {
    const anon = await fetch(`${e.url}/admin/jobs/`);
    expect(anon.status).to.equal(401);
    expect(anon.headers.get('www-authenticate')).to.match(/^Basic realm=/);
    const wrong = await fetch(`${e.url}/admin/jobs/`, { headers: { authorization: `Basic ${Buffer.from('operator:nope').toString('base64')}` } });
    expect(wrong.status).to.equal(401);
    const noScope = await fetch(`${e.url}/admin/jobs/`, { headers: { authorization: `Bearer ${await e.token('job:read')}` } });
    expect(noScope.status).to.equal(403);
    expect((((await noScope.json()) as any)).error.message).to.equal('Your scope does not allow to access this resource. Missing allowances: admin, support:cross_tenant');
    // The board shows every legal entity's jobs: admin alone is not enough.
    const adminOnly = await fetch(`${e.url}/admin/jobs/`, { headers: { authorization: `Bearer ${await e.token('admin')}` } });
    expect(adminOnly.status).to.equal(403);
  });

  it('serves the dashboard to a bearer token with scopes admin and support:cross_tenant', async () => {
    const res = await fetch(`${e.url}/admin/jobs/`, { headers: { authorization: `Bearer ${await e.token('admin support:cross_tenant')}` } });
    expect(res.status).to.equal(200);
    expect(await res.text()).to.match(/<html/i);
  });

  describe('in headless Chromium', () => {
    let browser: Browser | undefined;
    before(function () {
      if (!fs.existsSync(CHROMIUM)) {
        console.warn(`    (skipped: no Chromium at ${CHROMIUM}; .ci/run installs Debian's chromium package)`);
        this.skip();
      }
    });
    after(async () => browser?.close());

    it('renders the job list with the engine\'s jobs after basic-auth login', async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const context = await browser.newContext({ httpCredentials: ADMIN });
      const page = await context.newPage();
      const response = await page.goto(`${e.url}/admin/jobs/`);
      expect(response?.status()).to.equal(200);
      await page.getByText('test.operator-visible').first().waitFor({ timeout: 20_000 });
      expect(await page.getByText('test.operator-visible').count()).to.be.greaterThan(0);
    });

    it('lists the failed job under the state filter Failed, with its reason, and not under Completed', async () => {
      const context = await browser!.newContext({ httpCredentials: ADMIN });
      const page = await context.newPage();
      await page.goto(`${e.url}/admin/jobs/`);
      const search = async (state: string) => {
        await page.getByPlaceholder('job name').fill('test.operator-visible');
        await page.locator('#selectStateInput').selectOption(state);
        const answered = page.waitForResponse((r) => r.url().includes('/admin/jobs/api') && r.url().includes(`state=${state}`));
        await page.getByRole('button', { name: 'Apply' }).first().click();
        return (await (await answered).json()) as { jobs: { job: { name: string; failReason?: string }; failed: boolean }[] };
      };
      const failed = await search('failed');
      expect(failed.jobs.map((j) => [j.job.name, j.failed, j.job.failReason])).to.deep.include(['test.operator-visible', true, '422: bad input']);
      await page.locator('tr', { hasText: 'test.operator-visible' }).getByText('Failed', { exact: true }).first().waitFor({ timeout: 10_000 });
      const completed = await search('completed');
      expect(completed.jobs.map((j) => j.job.name)).not.to.include('test.operator-visible');
    });
  });
});
