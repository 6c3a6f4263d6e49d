/**
 * Patient notices through the outbox: a real SMTP server (smtp-server, in-process on an ephemeral port) receives the
 * e-mails, read back with mailparser; an SMS provider stub on loopback receives the SMS requests. The engine runs with
 * its own configuration (both channels, short backoff) and is driven over HTTP.
 */
import http from 'node:http';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { createOutbox } from '../../src/app/consultations.js';
import type { ChangeClaim } from '../../src/consultations/revision-store.js';
import { loadConfig } from '../../src/platform/config/config.js';
import { configureLogger } from '../../src/platform/logging/logger.js';
import { DELIVER_NOTIFICATION_JOB, newOutboxMessage } from '../../src/notifications/outbox.js';
import { OTHER_TENANT, startTestEngine, TEST_TENANT, type TestEngine } from '../support/harness.js';
import { api, ok, RESULT, testNationalId } from '../consultations/support.js';

interface SmsRequest {
  at: number;
  authorization: string | undefined;
  body: { to: string; text: string; reference: string; sender?: string };
}

/** An SMTP server that keeps every mail it accepts. */
async function startSmtp(): Promise<{ port: number; mails: ParsedMail[]; stop(): Promise<void> }> {
  const mails: ParsedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          mails.push(mail);
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, mails, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The SMS provider: answers `status()` (200 with an id, or a failure) and keeps every request. */
async function startSmsProvider(status: () => number): Promise<{ url: string; requests: SmsRequest[]; stop(): Promise<void> }> {
  const requests: SmsRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      requests.push({ at: Date.now(), authorization: req.headers.authorization, body: JSON.parse(body) });
      const code = status();
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(code < 300 ? { id: `sms-${requests.length}` } : { error: 'provider down' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/v1/messages`, requests, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const EMAIL = 'kari.nordmann.x7q@example.no';
const PHONE = '+4791234567';
const FAMILY = 'Nordmann-Testesen';

/** A referral of a patient with an e-mail address and a mobile number. */
async function referral(eng: TestEngine): Promise<{ serviceRequestId: string; patientId: string }> {
  const fhir = eng.ctx.fhir.forTenant(TEST_TENANT);
  const patient = await fhir.create<Patient>({
    resourceType: 'Patient',
    identifier: [{ system: 'urn:oid:2.16.578.1.12.4.1.4.1', value: testNationalId(Math.floor(Math.random() * 1000)) }],
    name: [{ family: FAMILY, given: ['Kari'] }],
    telecom: [
      { system: 'phone', use: 'home', value: '+4722222222' },
      { system: 'phone', use: 'mobile', value: PHONE },
      { system: 'email', value: EMAIL },
    ],
  });
  const sr = await fhir.create<ServiceRequest>({
    resourceType: 'ServiceRequest',
    status: 'active',
    intent: 'order',
    subject: { reference: `Patient/${patient.id}` },
    performer: [{ reference: 'Organization/insurer-notify' }],
  });
  return { serviceRequestId: sr.id!, patientId: patient.id! };
}

/** A consultation started by a practitioner; answers the started consultation. */
async function started(eng: TestEngine, dr: string): Promise<any> {
  const supervisor = await eng.token('consultations:read consultations:write consultations:supervise', { sub: 'supervisor-n' });
  const { serviceRequestId } = await referral(eng);
  const created = await ok(api(eng, 'POST', '/api/consultations', supervisor, { service_request_id: serviceRequestId }), 201);
  await ok(api(eng, 'POST', `/api/consultations/${created.id}/pick`, dr));
  return ok(api(eng, 'POST', `/api/consultations/${created.id}/start`, dr));
}

async function deliveryJob(eng: TestEngine, token: string, outboxId: string, status: string): Promise<any> {
  return until(`the delivery job of ${outboxId} to be ${status}`, async () => {
    const jobs = await ok(api(eng, 'GET', `/api/jobs?name=${DELIVER_NOTIFICATION_JOB}&page_size=100`, token));
    const job = jobs.find((j: any) => j.status === status && JSON.stringify(j.result ?? j.error ?? {}).includes(outboxId));
    return job ?? undefined;
  });
}

/** Every document of the collections a delivery touches, as text (to look for contact details). */
async function stored(eng: TestEngine): Promise<string> {
  const db = eng.ctx.database.db;
  const docs = await Promise.all(['outbox', 'jobs', 'agendaJobs', 'consultations', 'consultation_changes'].map((c) => db.collection(c).find({}).toArray()));
  return JSON.stringify(docs);
}

describe('notifications: notices to patients through the outbox', function () {
  this.timeout(90_000);

  describe('delivered by e-mail and SMS', () => {
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    let sms: Awaited<ReturnType<typeof startSmsProvider>>;
    let eng: TestEngine;
    const logLines: string[] = [];

    before(async () => {
      configureLogger('debug', new Writable({ write: (c, _e, cb) => (logLines.push(String(c)), cb()) }));
      smtp = await startSmtp();
      sms = await startSmsProvider(() => 200);
      eng = await startTestEngine({
        env: {
          PUBLIC_URL: 'https://engine.example',
          NOTIFY_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
          NOTIFY_EMAIL_FROM: 'Konsultasjon <no-reply@clinic.example>',
          NOTIFY_SMS_URL: sms.url,
          NOTIFY_SMS_TOKEN: 'sms-token-123',
          NOTIFY_SMS_SENDER: 'Klinikk',
          JOBS_POLL_INTERVAL_MS: '100',
        },
      });
    });
    after(async () => {
      await eng?.stop();
      await smtp?.stop();
      await sms?.stop();
      configureLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
    });

    it('the session links at the start and a notice at completion reach the patient; the job shows the delivery', async () => {
      const dr = await eng.token('consultations:read consultations:write', { sub: 'dr-notify-1' });
      const reader = await eng.token('job:read', { sub: 'operator-n' });
      const c = await started(eng, dr);
      // the links are under the engine's public URL
      expect(c.sessions.chat_url.startsWith('https://engine.example/sessions/chat/'), c.sessions.chat_url).to.equal(true);
      const links = await eng.ctx.database.db.collection('outbox').findOne({ 'payload.consultation_id': c.id, kind: 'consultation.session_links' });
      expect(links).to.deep.include({ tenant: TEST_TENANT, category: 'transactional', recipient: { reference: `Patient/${c.patient_id}` } });

      const job = await deliveryJob(eng, reader, String(links!._id), 'processed');
      expect(job.result.response_data).to.deep.equal({
        outbox_id: links!._id,
        kind: 'consultation.session_links',
        status: 'sent',
        channels: { email: { status: 'sent', attempts: 1 }, sms: { status: 'sent', attempts: 1 } },
      });

      const mail = await until('the e-mail', async () => smtp.mails.find((m) => m.text?.includes(c.sessions.chat_url)));
      expect(mail.subject).to.equal('Konsultasjonen din har startet');
      expect((mail.to as { text: string }).text).to.equal(EMAIL);
      expect(mail.from?.value).to.deep.equal([{ name: 'Konsultasjon', address: 'no-reply@clinic.example' }]);
      expect(mail.text).to.contain(`Video: ${c.sessions.video_url}`);
      expect(mail.headers.get('x-notification-id')).to.equal(links!._id);

      const text = await until('the SMS', async () => sms.requests.find((r) => r.body.reference === String(links!._id)));
      expect(text.authorization).to.equal('Bearer sms-token-123');
      expect(text.body).to.deep.include({ to: PHONE, sender: 'Klinikk' }); // the mobile number, not the home phone
      expect(text.body.text).to.contain(c.sessions.chat_url).and.to.contain(c.sessions.video_url);

      await ok(api(eng, 'POST', `/api/consultations/${c.id}/finish`, dr, RESULT));
      const done = await until('the completion notice', async () =>
        (await eng.ctx.database.db.collection('outbox').findOne({ 'payload.consultation_id': c.id, kind: 'consultation.completed', status: 'sent' })) ?? undefined,
      );
      const doneMail = await until('the completion e-mail', async () => smtp.mails.find((m) => m.headers.get('x-notification-id') === String(done._id)));
      expect(doneMail.subject).to.equal('Konsultasjonen din er avsluttet');
      expect(doneMail.text).not.to.contain(RESULT.notes).and.not.to.contain(RESULT.icpc2);
      expect(sms.requests.filter((r) => r.body.reference === String(done._id))).to.have.length(1);

      // contact details only ever went to the SMTP server and the SMS provider: not into the database, not into the logs
      const db = await stored(eng);
      const logs = logLines.join('');
      expect(logs).to.contain('job processed');
      for (const personal of [EMAIL, PHONE, FAMILY]) {
        expect(db).not.to.contain(personal);
        expect(logs).not.to.contain(personal);
      }
    });

    it('a notice whose change was applied by an engine that stopped before the outbox write is written and sent by the repair', async () => {
      const dr = await eng.token('consultations:read consultations:write', { sub: 'dr-notify-5' });
      const c = await started(eng, dr);
      const db = eng.ctx.database.db;
      const doc = (await db.collection('consultations').findOne({ _id: c.id as never }))!;
      // a re-send of the links: its claim (with the notice) and the new revision written, then the engine stopped
      const at = new Date(Date.now() - 120_000);
      const id = `${c.id}:${doc.rev}:consultation.session_links`;
      const notice = newOutboxMessage(
        { _id: id, tenant: TEST_TENANT, kind: 'consultation.session_links', category: 'transactional', recipient: { reference: `Patient/${c.patient_id}` }, payload: { consultation_id: c.id, chat_url: c.sessions.chat_url, video_url: c.sessions.video_url, starts_at: new Date(c.starts_at) } },
        at,
      );
      const set = { notification: { outbox_id: id, at } };
      await db.collection('consultation_changes').insertOne({ _id: `${c.id}:${doc.rev}` as never, consultation_id: c.id, rev: doc.rev, action: 'notify', by: 'dr-notify-5', at, pending: true, change: { set, affectsEncounter: false, notices: [notice] } });
      await db.collection('consultations').replaceOne({ _id: c.id as never }, { ...doc, ...set, rev: doc.rev + 1, updated_at: at });
      expect(await db.collection('outbox').findOne({ _id: id as never })).to.equal(null);

      await eng.ctx.consultations.repair();
      const mail = await until('the repaired notice by e-mail', async () => smtp.mails.find((m) => m.headers.get('x-notification-id') === id));
      expect(mail.text).to.contain(c.sessions.chat_url);
      const claim = await db.collection('consultation_changes').findOne({ _id: `${c.id}:${doc.rev}` as never });
      expect(claim).to.deep.include({ pending: false });
      expect(claim!.change).to.equal(undefined);
      // repeating the repair sends nothing twice
      await eng.ctx.consultations.store.complete({ ...(claim as unknown as ChangeClaim), change: { set, affectsEncounter: false, notices: [notice] } });
      await until('the notice to be sent', async () => ((await db.collection('outbox').findOne({ _id: id as never, status: 'sent' })) ?? undefined));
      expect(smtp.mails.filter((m) => m.headers.get('x-notification-id') === id)).to.have.length(1);
    });

    it('the patient\'s legal entity sees the delivery jobs; another does not', async () => {
      const dr = await eng.token('consultations:read consultations:write', { sub: 'dr-notify-2' });
      const c = await started(eng, dr);
      const links = await eng.ctx.database.db.collection('outbox').findOne({ 'payload.consultation_id': c.id });
      const job = await deliveryJob(eng, await eng.token('job:read'), String(links!._id), 'processed');
      const other = await eng.token('job:read', { clientId: OTHER_TENANT });
      const theirs = await ok(api(eng, 'GET', `/api/jobs?name=${DELIVER_NOTIFICATION_JOB}&page_size=100`, other));
      expect(theirs.map((j: any) => j.id)).not.to.include(job.id);
      expect((await api(eng, 'GET', `/api/jobs/${job.id}`, other)).status).to.equal(404);
    });

    it('a marketing message to a patient tagged no-marketing is suppressed: nothing is sent', async () => {
      const dr = await eng.token('consultations:read consultations:write', { sub: 'dr-notify-3' });
      const c = await started(eng, dr); // consultation patients carry the no-marketing tag
      const before = { mails: smtp.mails.length, sms: sms.requests.length };
      await until('the links to be sent', async () =>
        (await eng.ctx.database.db.collection('outbox').findOne({ 'payload.consultation_id': c.id, status: 'sent' })) ?? undefined,
      );
      const sentForLinks = { mails: smtp.mails.length - before.mails, sms: sms.requests.length - before.sms };
      // a message of another category for the same patient (nothing in the engine writes one; the delivery refuses it)
      const id = `marketing-${c.id}`;
      await createOutbox(eng.ctx).write([
        newOutboxMessage(
          { _id: id, tenant: TEST_TENANT, kind: 'consultation.completed', category: 'marketing', recipient: { reference: `Patient/${c.patient_id}` }, payload: { consultation_id: c.id } },
          new Date(),
        ),
      ]);
      const job = await deliveryJob(eng, await eng.token('job:read'), id, 'processed');
      expect(job.result.response_data).to.include({ outbox_id: id, status: 'suppressed' });
      expect((await eng.ctx.database.db.collection('outbox').findOne({ _id: id as never }))!.status).to.equal('suppressed');
      expect(smtp.mails.length - before.mails).to.equal(sentForLinks.mails);
      expect(sms.requests.length - before.sms).to.equal(sentForLinks.sms);
      expect(smtp.mails.some((m) => m.headers.get('x-notification-id') === id)).to.equal(false);
    });
  });

  describe('with a failing SMS provider', () => {
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    let sms: Awaited<ReturnType<typeof startSmsProvider>>;
    let eng: TestEngine;
    let smsStatus = 503;

    before(async () => {
      smtp = await startSmtp();
      sms = await startSmsProvider(() => smsStatus);
      eng = await startTestEngine({
        env: {
          NOTIFY_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
          NOTIFY_EMAIL_FROM: 'no-reply@clinic.example',
          NOTIFY_SMS_URL: sms.url,
          NOTIFY_SMS_TOKEN: 'sms-token-456',
          NOTIFY_MAX_ATTEMPTS: '3',
          NOTIFY_BACKOFF_MS: '200',
          JOBS_POLL_INTERVAL_MS: '100',
          ADMIN_USERNAME: 'operator',
          ADMIN_PASSWORD: 'a-long-operator-secret',
        },
      });
    });
    after(async () => {
      await eng?.stop();
      await smtp?.stop();
      await sms?.stop();
    });

    it('retries the SMS with backoff, never repeats the e-mail, then fails the delivery (jobs API and Agendash)', async () => {
      const dr = await eng.token('consultations:read consultations:write', { sub: 'dr-notify-4' });
      const c = await started(eng, dr);
      const links = await eng.ctx.database.db.collection('outbox').findOne({ 'payload.consultation_id': c.id });
      const id = String(links!._id);
      const job = await deliveryJob(eng, await eng.token('job:read'), id, 'failed');

      expect(job).to.include({ name: DELIVER_NOTIFICATION_JOB, status_code: 502, attempts: 3, max_attempts: 3 });
      expect(job.error).to.deep.include({
        type: 'delivery_failed',
        message: 'Notice not delivered after 3 attempts: sms: SMS provider answered HTTP 503',
        outbox_id: id,
        status: 'failed',
        channels: { email: { status: 'sent', attempts: 1 }, sms: { status: 'failed', attempts: 3 } },
      });
      // three SMS attempts, the retries after the backoff (200 ms, then doubled)
      const attempts = sms.requests.filter((r) => r.body.reference === id);
      expect(attempts).to.have.length(3);
      expect(attempts[1].at - attempts[0].at).to.be.at.least(190);
      expect(attempts[2].at - attempts[1].at).to.be.at.least(390);
      expect(smtp.mails.filter((m) => m.headers.get('x-notification-id') === id)).to.have.length(1);
      const stored = await eng.ctx.database.db.collection('outbox').findOne({ _id: id as never });
      expect(stored).to.deep.include({ status: 'failed', attempts: 3, job_id: job.id });
      expect(stored!.channels.sms).to.include({ status: 'failed', attempts: 3, last_error: 'SMS provider answered HTTP 503' });

      // the failed listing shows it, and Agendash keeps the job with its failure
      const failed = await ok(api(eng, 'GET', `/api/jobs?name=${DELIVER_NOTIFICATION_JOB}&status=failed`, await eng.token('job:read')));
      expect(failed.map((j: any) => j.id)).to.include(job.id);
      const basic = `Basic ${Buffer.from('operator:a-long-operator-secret').toString('base64')}`;
      const res = await fetch(`${eng.url}/admin/jobs/api?job=${DELIVER_NOTIFICATION_JOB}`, { headers: { authorization: basic } });
      expect(res.status).to.equal(200);
      const agendash = (await res.json()) as { jobs: { job: { data: { jobId?: string }; failReason?: string; failCount?: number } }[] };
      const shown = agendash.jobs.find((j) => j.job.data.jobId === job.id);
      expect(shown, JSON.stringify(agendash.jobs.map((j) => j.job.data))).to.not.equal(undefined);
      expect(shown!.job.failReason).to.equal('502: Notice not delivered after 3 attempts: sms: SMS provider answered HTTP 503');

      // the provider is back: an operator re-runs the job; the SMS goes, the e-mail is not sent twice
      smsStatus = 200;
      expect((await api(eng, 'POST', `/api/jobs/${job.id}/rerun`, await eng.token('admin job:read'))).status).to.equal(202);
      await until('the notice to be sent', async () => {
        const m = await eng.ctx.database.db.collection('outbox').findOne({ _id: id as never });
        return m?.status === 'sent' ? m : undefined;
      });
      expect(sms.requests.filter((r) => r.body.reference === id)).to.have.length(4);
      expect(smtp.mails.filter((m) => m.headers.get('x-notification-id') === id)).to.have.length(1);
    });
  });
});

describe('notifications: configuration', () => {
  it('a channel is configured completely or not at all, with a clear message naming the variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ NOTIFY_SMTP_URL: 'smtp://127.0.0.1:2525' }, /^Invalid configuration: NOTIFY_EMAIL_FROM must be set when NOTIFY_SMTP_URL is set/],
      [{ NOTIFY_EMAIL_FROM: 'a@b.example' }, /^Invalid configuration: NOTIFY_SMTP_URL must be set/],
      [{ NOTIFY_SMTP_URL: 'http://mail.example', NOTIFY_EMAIL_FROM: 'a@b.example' }, /^Invalid configuration: NOTIFY_SMTP_URL must use smtp: or smtps:/],
      [{ NOTIFY_SMTP_URL: 'smtp://mail.example', NOTIFY_EMAIL_FROM: 'not an address' }, /^Invalid configuration: NOTIFY_EMAIL_FROM must be an e-mail address/],
      [{ NOTIFY_SMS_URL: 'https://sms.example/v1' }, /^Invalid configuration: NOTIFY_SMS_TOKEN must be set/],
      [{ NOTIFY_MAX_ATTEMPTS: '0' }, /^Invalid configuration: NOTIFY_MAX_ATTEMPTS must be between 1 and 50/],
    ];
    for (const [env, message] of cases) expect(() => loadConfig(env), JSON.stringify(env)).to.throw(message);
    const ok = loadConfig({ NOTIFY_SMTP_URL: 'smtps://u:p@mail.example:465', NOTIFY_EMAIL_FROM: 'Clinic <no-reply@clinic.example>' }).notifications;
    expect(ok).to.deep.include({ email: { smtpUrl: 'smtps://u:p@mail.example:465', from: 'Clinic <no-reply@clinic.example>' }, sms: undefined, maxAttempts: 6, backoffMs: 30_000 });
  });
});
