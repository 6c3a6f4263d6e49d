import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { Binary, ObjectId } from 'mongodb';
import { engine } from '../support/harness.js';
import { api, completedConsultation, ok, testNationalId, tokens, uniqueOrg, type Tokens } from './support.js';

/** Every string (and binary payload, decoded) inside a raw document. */
function* strings(value: unknown): Generator<string> {
  if (typeof value === 'string') yield value;
  else if (value instanceof Binary) yield Buffer.from(value.buffer).toString('latin1');
  else if (Buffer.isBuffer(value) || value instanceof Uint8Array) yield Buffer.from(value).toString('latin1');
  else if (value instanceof Date || value instanceof ObjectId) return;
  else if (Array.isArray(value)) for (const v of value) yield* strings(v);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      yield k;
      yield* strings(v);
    }
  }
}

describe('consultations: result fields are encrypted at rest', () => {
  const org = uniqueOrg('org-enc');
  let t: Tokens;

  before(async () => {
    t = await tokens(engine());
  });

  it('no result field appears in plaintext in any collection (incl. FHIR history, outbox, jobs, reports)', async function () {
    this.timeout(60_000);
    const eng = engine();
    const secret = {
      icpc2: 'L87',
      outcome: 'referred_specialist',
      patient_national_id: testNationalId(123),
      patient_job_description: 'Offshore crane operator ZQ4-JOBDESC',
      author_practitioner_id: 'author-sp-Q8Z2W',
      notes: 'Shoulder pain after lifting, NOTES-MARKER-7731',
      policy_number: 'PN-5550193377',
    };
    const done = await completedConsultation(eng, t, org, 'dr-enc-1', secret);
    // the report job reads and writes this consultation too
    const req = await api(eng, 'POST', '/api/consultations/reports', t.resultReader, { from: new Date().toISOString().slice(0, 10), to: new Date().toISOString().slice(0, 10), organization_id: org });
    expect(req.status).to.equal(202);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await ok(api(eng, 'GET', `/api/consultations/reports/${req.body.data.id}`, t.resultReader));
      if (r.status === 'ready') break;
      expect(r.status).not.to.equal('failed');
      if (Date.now() > deadline) throw new Error('report not ready in time');
      await new Promise((res) => setTimeout(res, 200));
    }

    // the API (with the scope) still shows them: the values really were stored
    const shown = await ok(api(eng, 'GET', `/api/consultations/${done.id}`, t.resultReader));
    expect(shown.result).to.include(secret);

    const related = [done.id, done.encounter_id, done.patient_id, done.service_request_id];
    const longValues = [secret.patient_national_id, secret.patient_job_description, secret.author_practitioner_id, secret.notes, secret.policy_number, 'NOTES-MARKER-7731', 'ZQ4-JOBDESC'];
    const db = eng.ctx.database.db;
    const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    expect(names).to.include.members(['consultations', 'outbox', 'consultation_reports', 'jobs']);
    let scannedRelated = 0;
    for (const name of names) {
      if (name.startsWith('system.')) continue;
      const dictionary = name.startsWith('dictionar'); // the ICPC2 code list itself holds every code in clear
      for await (const doc of db.collection(name).find({})) {
        const all = [...strings(doc)];
        const joined = all.join('\u0000');
        for (const v of longValues) expect(joined, `${name} ${String(doc._id)}`).not.to.contain(v);
        if (dictionary) continue;
        if (!related.some((id) => joined.includes(id))) continue;
        scannedRelated++;
        for (const s of all) {
          expect(s, `${name} ${String(doc._id)}`).not.to.equal(secret.icpc2);
          expect(s, `${name} ${String(doc._id)}`).not.to.contain(secret.outcome);
        }
      }
    }
    expect(scannedRelated).to.be.greaterThan(4); // consultation, outbox, Encounter versions, Patient, ServiceRequest …

    // the stored consultation holds ciphertexts only, all under one key id
    const raw = await db.collection('consultations').findOne({ _id: done.id as never });
    expect(Object.keys(raw!.result.fields).sort()).to.deep.equal(Object.keys(secret).sort());
    for (const v of Object.values(raw!.result.fields)) expect(v).to.match(new RegExp(`^enc1\\.${raw!.result.kid}\\.`));

    // the report file in media storage is an encrypted envelope, not a readable XLSX (zip) file
    const report = await db.collection('consultation_reports').findOne({ _id: req.body.data.id });
    const media = await eng.ctx.media.get(report!.media_key);
    expect(media!.bytes.subarray(0, 4).toString('latin1')).to.equal('HLE1');
    expect(media!.bytes.includes(Buffer.from('PK\u0003\u0004', 'latin1'))).to.equal(false);
    const mediaDir = path.join(eng.config.dataDir, 'media');
    for (const file of fs.readdirSync(mediaDir, { recursive: true }) as string[]) {
      const p = path.join(mediaDir, file);
      if (!fs.statSync(p).isFile()) continue;
      const bytes = fs.readFileSync(p).toString('latin1');
      for (const v of longValues) expect(bytes, p).not.to.contain(v);
    }
  });

  it('a reader without consultation_result:read sees that a result exists, nothing of it', async () => {
    const eng = engine();
    const done = await completedConsultation(eng, t, org, 'dr-enc-2');
    for (const token of [t.reader, t.supervisor, await t.practitioner('dr-enc-2')]) {
      const one = await ok(api(eng, 'GET', `/api/consultations/${done.id}`, token));
      expect(one.result).to.deep.equal({ recorded: true, recorded_at: done.ends_at });
      const list = await api(eng, 'GET', `/api/consultations?organization_id=${org}&state=completed`, token);
      expect(JSON.stringify(list.body)).not.to.contain('NOTE-Z93K-PLAIN');
      expect(JSON.stringify(list.body)).not.to.contain('POL-88817263');
    }
    // nor the reports
    for (const p of ['/api/consultations/reports', '/api/consultations/reports/x', '/api/consultations/reports/x/download']) {
      const res = await api(eng, 'GET', p, t.supervisor);
      expect(res.status, p).to.equal(403);
      expect(res.body.error.message).to.contain('consultation_result:read');
    }
    expect((await api(eng, 'POST', '/api/consultations/reports', t.supervisor, { from: '2024-01-01', to: '2024-01-02' })).status).to.equal(403);
  });
});
