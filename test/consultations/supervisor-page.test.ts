import fs from 'node:fs';
import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import { BASIC_AUTH_OPERATOR } from '../../src/platform/tenancy/request-tenant.js';
import { api, createConsultation, makeReferral, ok, tokens, uniqueOrg, type Tokens } from './support.js';
import { OTHER_TENANT, startTestEngine, TEST_TENANT, type TestEngine } from '../support/harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN = { username: 'operator', password: 'correct horse battery' };
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('operators: the supervisor page at /admin/queue', function () {
  this.timeout(60_000);
  const org = uniqueOrg('org-supervisor');
  let e: TestEngine;
  let t: Tokens;

  before(async function () {
    this.timeout(120_000);
    e = await startTestEngine({
      env: { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password, CONSULTATION_REPORT_SCHEDULE: 'off', CONSULTATION_STREAM_POLL_MS: '100' },
    });
    t = await tokens(e);
    // The first FHIR write of a fresh engine compiles the resource validation (seconds on a busy machine): done here.
    await makeReferral(e, 'warm-up');
  });
  after(async () => e?.stop());

  it('refuses anonymous users, wrong passwords and tokens without admin and support:cross_tenant', async () => {
    for (const path of ['/admin/queue', `/admin/queue/data?tenant=${TEST_TENANT}`, `/admin/queue/events?tenant=${TEST_TENANT}`]) {
      const anon = await fetch(`${e.url}${path}`);
      expect(anon.status, path).to.equal(401);
      expect(anon.headers.get('www-authenticate')).to.match(/^Basic realm=/);
      const wrong = await fetch(`${e.url}${path}`, { headers: { authorization: basic(ADMIN.username, 'nope') } });
      expect(wrong.status, path).to.equal(401);
      const supervisor = await fetch(`${e.url}${path}`, { headers: { authorization: `Bearer ${t.supervisor}` } });
      expect(supervisor.status, path).to.equal(403);
      const adminOnly = await fetch(`${e.url}${path}`, { headers: { authorization: `Bearer ${await e.token('admin')}` } });
      expect(adminOnly.status, path).to.equal(403);
    }
  });

  it('lists the open queue of the named tenant only, records the access, and refuses a malformed tenant', async () => {
    const open = await createConsultation(e, t.supervisor, (await makeReferral(e, org)).serviceRequestId);
    const closed = await createConsultation(e, t.supervisor, (await makeReferral(e, org)).serviceRequestId);
    await ok(api(e, 'POST', `/api/consultations/${closed.id}/cancel`, t.supervisor, { reason: 'test' }));
    const auth = { authorization: basic(ADMIN.username, ADMIN.password) };

    const mine = await fetch(`${e.url}/admin/queue/data?tenant=${TEST_TENANT}`, { headers: auth });
    expect(mine.status).to.equal(200);
    const body = (await mine.json()) as { last_event_id: number; consultations: { id: string; state: string }[] };
    const ids = body.consultations.map((c) => c.id);
    expect(ids).to.include(open.id);
    expect(ids).not.to.include(closed.id);
    expect(body.last_event_id).to.be.greaterThanOrEqual(3);
    expect(JSON.stringify(body)).not.to.contain('patient');

    const other = await fetch(`${e.url}/admin/queue/data?tenant=${OTHER_TENANT}`, { headers: auth });
    expect(((await other.json()) as { consultations: unknown[] }).consultations).to.deep.equal([]);

    const access = await e.ctx.database.db.collection('operator_access').find({ target_tenant: TEST_TENANT, route: '/admin/queue/data' }).toArray();
    expect(access.map((a) => a.user_id)).to.include(BASIC_AUTH_OPERATOR);

    const bad = await fetch(`${e.url}/admin/queue/data?tenant=${encodeURIComponent('<script>')}`, { headers: auth });
    expect(bad.status).to.equal(422);
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

    it('shows a new referral\'s consultation, its pick and its cancellation without a reload', async () => {
      const existing = await createConsultation(e, t.supervisor, (await makeReferral(e, org)).serviceRequestId);
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const context = await browser.newContext({ httpCredentials: ADMIN });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      const response = await page.goto(`${e.url}/admin/queue?tenant=${TEST_TENANT}`);
      expect(response?.status()).to.equal(200);
      await page.locator(`tr[data-id="${existing.id}"]`).waitFor({ timeout: 20_000 });
      await page.locator('#status[data-live="true"]').waitFor({ timeout: 20_000 });
      // A marker that a reload would lose.
      await page.evaluate(() => ((globalThis as unknown as { notReloaded: boolean }).notReloaded = true));

      const fresh = await createConsultation(e, t.supervisor, (await makeReferral(e, org)).serviceRequestId);
      const row = page.locator(`tr[data-id="${fresh.id}"]`);
      await row.waitFor({ timeout: 20_000 });
      expect(await row.locator('td.state').textContent()).to.equal('ready_for_pickup');
      expect(await row.locator('td.referral').textContent()).to.equal(fresh.service_request_id);

      await ok(api(e, 'POST', `/api/consultations/${fresh.id}/pick`, await t.practitioner('dr-supervised')));
      await page.locator(`tr[data-id="${fresh.id}"][data-state="pending_sp"]`).waitFor({ timeout: 20_000 });
      expect(await row.locator('td.practitioner').textContent()).to.equal('dr-supervised');

      await ok(api(e, 'POST', `/api/consultations/${fresh.id}/cancel`, t.supervisor, { reason: 'test' }));
      await row.waitFor({ state: 'detached', timeout: 20_000 });
      expect(await page.locator(`tr[data-id="${existing.id}"]`).count()).to.equal(1);
      expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).to.equal(true);
      expect(errors).to.deep.equal([]);
    });
  });
});
