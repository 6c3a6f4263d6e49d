/**
 * Recovery without the sender: an engine process is killed (SIGKILL) while henvisning messages are in flight; two
 * new engines on the same database process every message it stored but did not finish, without any resend, each
 * message once (one run, FHIR resources not duplicated), and a later resend gets the stored AppRec.
 */
import { validFnrs } from '../support/person-numbers.js';
import { testTenants } from '../support/tenants.js';
import { startEngineProcess } from '../support/engine-process.js';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { mintLocalToken } from '../../src/platform/auth/keys.js';
import type { MessageDoc } from '../../src/ingest/message-store.js';
import { databaseUri, isolatedEngineEnv, startTestEngine, type TestEngine, TEST_TENANT } from '../support/harness.js';
import { readAppRec, variant } from '../ingest/support.js';

const NY = 'Henvisning_ny_tilstand_v2-0_Ny.xml';

describe('recovery of messages left unfinished by a killed engine', function () {
  this.timeout(300_000);
  const children: ChildProcess[] = [];
  const engines: TestEngine[] = [];
  let client: MongoClient | undefined;
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const e of engines) await e.stop();
    await client?.close();
  });

  it('processes every stored message once after kill -9, without a resend; a later resend gets the stored AppRec', async () => {
    const { dataDir, database, env: base } = isolatedEngineEnv('recovery');
    const env = {
      ...base,
      // Two messages at a time: the others wait stored as `received`, so the kill finds several in flight.
      INGEST_CONCURRENCY: '2',
      // This engine is killed before its own recovery could claim anything: it looks only at start.
      INGEST_LEASE_S: '2',
      INGEST_RECOVERY_INTERVAL_S: '0',
      TENANTS: testTenants(),
    };
    const first = await startEngineProcess(env, children);
    const exited = new Promise<NodeJS.Signals | null>((resolve) => first.child.on('exit', (_code, signal) => resolve(signal)));
    client = await MongoClient.connect(databaseUri());
    const messages = client.db(database).collection<MessageDoc>('messages');
    const token = await mintLocalToken(dataDir, { scope: 'messages:write', sub: 'sender', clientId: TEST_TENANT });

    const patients = validFnrs(5);
    const bodies = Array.from({ length: 40 }, (_, i) =>
      variant(NY, [
        [/<DocumentId>[^<]*<\/DocumentId>/, `<DocumentId>${randomUUID()}</DocumentId>`],
        ['<Id>13116900216</Id>', `<Id>${patients[i % patients.length]}</Id>`],
      ]),
    );
    const posts = bodies.map((body) =>
      fetch(`${first.url}/api/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/xml' }, body }).then(
        (r) => r.status,
        () => 'connection lost',
      ),
    );
    // Killed while several stored messages are unfinished.
    const deadline = Date.now() + 60_000;
    while ((await messages.countDocuments({ status: 'received' })) < 3) {
      if (Date.now() > deadline) throw new Error('no message was ever in flight');
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(process.kill(first.child.pid!, 'SIGKILL')).to.equal(true);
    expect(await exited).to.equal('SIGKILL');
    await Promise.all(posts);

    const unfinished = await messages.find({ status: 'received' }, { projection: { _id: 1 } }).toArray();
    const stored = await messages.countDocuments({});
    expect(unfinished.length).to.be.greaterThan(0);

    // Two engines on the database, neither of which ever sees a resend.
    for (let i = 0; i < 2; i++) {
      // The lease bounds how long a live attempt may run before another engine takes it for dead: long enough here
      // for one message on a loaded machine, short enough for the test.
      engines.push(await startTestEngine({ env: { MONGODB_DATABASE: database, INGEST_LEASE_S: '10', INGEST_RECOVERY_INTERVAL_S: '1' } }));
    }
    const until = Date.now() + 120_000;
    while ((await messages.countDocuments({ status: 'received' })) > 0) {
      if (Date.now() > until) throw new Error(`still unfinished: ${JSON.stringify(await messages.find({ status: 'received' }, { projection: { _id: 1 } }).toArray())}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const all = await messages.find({}, { projection: { raw: 0 } }).toArray();
    expect(all).to.have.length(stored);
    for (const m of all) {
      expect(m.status, `${m._id}: ${JSON.stringify(m.error)}`).to.equal('processed');
      expect(m.runs, `${m._id} runs`).to.have.length(1);
      expect(m.attempts).to.equal(1);
    }
    const recovered = all.filter((m) => m.runs[0].trigger === 'recovery').map((m) => m._id);
    expect(recovered.sort()).to.deep.equal(unfinished.map((u) => u._id).sort());

    // FHIR: one ServiceRequest per stored message (DocumentId), one Patient per fødselsnummer.
    const fhir = engines[0].ctx.fhir.forTenant(TEST_TENANT);
    for (const m of all) {
      const body = bodies.find((b) => b.includes(`<MsgId>${m.externalId}</MsgId>`))!;
      const documentId = /<DocumentId>([^<]+)<\/DocumentId>/.exec(body)![1];
      expect((await fhir.search<ServiceRequest>('ServiceRequest', { identifier: documentId })).resources, documentId).to.have.length(1);
    }
    const storedPatients = new Set(all.map((m) => patients.find((p) => bodies.find((b) => b.includes(`<MsgId>${m.externalId}</MsgId>`))!.includes(`<Id>${p}</Id>`))!));
    for (const fnr of storedPatients) {
      expect((await fhir.search<Patient>('Patient', { identifier: fnr })).resources, fnr).to.have.length(1);
    }

    // The sender resends one of the recovered messages later: the stored AppRec, nothing processed again.
    const again = all.find((m) => m._id === recovered[0])!;
    const resend = bodies.find((b) => b.includes(`<MsgId>${again.externalId}</MsgId>`))!;
    const res = await fetch(`${engines[0].url}/api/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await engines[0].token('messages:write')}`, 'content-type': 'application/xml' },
      body: resend,
    });
    expect(res.status).to.equal(200);
    expect(res.headers.get('x-duplicate')).to.equal('true');
    const rec = readAppRec(await res.text());
    expect(rec.status).to.equal('1');
    expect(rec.xml).to.equal(again.receipt!.body);
    expect((await messages.findOne({ _id: again._id }))!.runs).to.have.length(1);
  });
});
