/**
 * `tenants assign`: data stored before tenancy (no tenant field, FHIR keys without the tenant prefix) becomes one
 * tenant's, through the real CLI entry point; a dry run changes nothing; a second run finds nothing left.
 *
 * The legacy data is made the way the engine stored it before tenancy: a referral and a consultation are written
 * through the API, then their tenant fields and key prefixes are taken away.
 */
import { runCli, type CliResult } from '../support/cli.js';
import { expect } from 'chai';
import type { Db } from 'mongodb';
import { HISTORY_COLLECTION, SEARCH_INDEX_COLLECTION } from '../../src/fhir-store/resource-types.js';
import { TENANT_TAG_SYSTEM } from '../../src/platform/tenancy/tenant.js';
import { startTestEngine, TEST_TENANT, type TestEngine } from '../support/harness.js';
import { ingest, variant } from '../ingest/support.js';
import { createConsultation, makeReferral, tokens } from '../consultations/support.js';

const NY = 'Henvisning_ny_tilstand_v2-0_Ny.xml';

/** A CLI command that must succeed. */
async function cli(eng: TestEngine, ...args: string[]): Promise<CliResult> {
  const r = await runCli(eng, args, { LOG_LEVEL: 'silent' });
  if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

/** Takes the tenant away from everything of `tenant`, as the engine stored data before tenancy. */
async function makeLegacy(db: Db, tenant: string): Promise<void> {
  const prefix = `${tenant}|`;
  const collections = (await db.listCollections().toArray()).map((c) => c.name).filter((n) => n.startsWith('fhir_') || n === HISTORY_COLLECTION || n === SEARCH_INDEX_COLLECTION);
  for (const name of collections) {
    const col = db.collection<{ _id: string; resource?: { meta?: { tag?: { system?: string }[] } } }>(name, { ignoreUndefined: true });
    for (const d of await col.find({}).toArray()) {
      if (!d._id.startsWith(prefix)) continue;
      const copy = { ...d, _id: d._id.slice(prefix.length) };
      if (d.resource) {
        const r = structuredClone(d.resource);
        const tags = (r.meta?.tag ?? []).filter((t) => t.system !== TENANT_TAG_SYSTEM);
        if (r.meta) r.meta.tag = tags.length > 0 ? tags : undefined;
        copy.resource = r;
      }
      await col.insertOne(copy);
      await col.deleteOne({ _id: d._id });
    }
  }
  for (const m of await db.collection('messages').find({ tenant }).toArray()) {
    await db.collection('messages').updateOne({ _id: m._id }, { $unset: { tenant: '' }, $set: { dedupKey: `${m.source}:${m.externalId}` } });
  }
  for (const c of await db.collection('consultations').find({ tenant }).toArray()) {
    await db.collection('consultations').updateOne({ _id: c._id }, { $unset: { tenant: '' }, $set: { active_key: String(c.active_key).slice(prefix.length) } });
  }
}

describe('tenancy: tenants assign (data stored before tenancy)', function () {
  this.timeout(240_000);
  let e: TestEngine;
  after(async () => e?.stop());

  it('gives every record without a tenant to one tenant, idempotently, with a dry run', async () => {
    e = await startTestEngine();
    const msgId = variant(NY).match(/<MsgId>([^<]+)<\/MsgId>/)![1];
    const body = variant(NY, [], msgId);
    const rec = await ingest(e, body);
    expect(rec.status).to.equal('1');
    const { serviceRequestId } = await makeReferral(e, 'org-legacy');
    const t = await tokens(e);
    const consultation = await createConsultation(e, t.supervisor, serviceRequestId);
    const token = await e.token('messages:read system/*.read consultations:read');
    const get = (p: string) => fetch(`${e.url}${p}`, { headers: { authorization: `Bearer ${token}` } });
    const view = (await (await get(`/api/messages/${rec.messageId}`)).json()) as { data: { fhir: { reference: string }[] } };
    const patient = view.data.fhir.find((f) => f.reference.startsWith('Patient/'))!.reference;
    const patientIdentifier = ((await (await get(`/fhir/${patient}`)).json()) as { identifier: { system: string; value: string }[] }).identifier[0];
    const search = `/fhir/Patient?identifier=${encodeURIComponent(`${patientIdentifier.system}|${patientIdentifier.value}`)}`;

    await makeLegacy(e.ctx.database.db, TEST_TENANT);
    // Legacy data belongs to nobody: no tenant sees it.
    expect((await get(`/api/messages/${rec.messageId}`)).status).to.equal(404);
    expect((await get(`/fhir/${patient}`)).status).to.equal(404);
    expect((await get(`/api/consultations/${consultation.id}`)).status).to.equal(404);

    const dry = await cli(e, 'tenants', 'assign', '--tenant', TEST_TENANT, '--dry-run');
    expect(dry.stdout).to.match(/would be assigned to le-1: 1 messages, 1 consultations, 0 reports, \d+ FHIR resources, \d+ FHIR versions, \d+ search keys/);
    expect((await get(`/fhir/${patient}`)).status).to.equal(404);

    const done = await cli(e, 'tenants', 'assign', '--tenant', TEST_TENANT);
    const m = /assigned to le-1: 1 messages, 1 consultations, 0 reports, (\d+) FHIR resources, (\d+) FHIR versions, (\d+) search keys/.exec(done.stdout);
    expect(m, done.stdout).to.not.equal(null);
    expect(Number(m![1])).to.be.greaterThan(3);
    expect(done.stderr).to.include('fhirCurrent:');

    // Everything is the tenant's again: reads, searches (posting lists moved), the consultation, the dedup key.
    expect((await get(`/api/messages/${rec.messageId}`)).status).to.equal(200);
    const read = await get(`/fhir/${patient}`);
    expect(read.status).to.equal(200);
    expect(((await read.json()) as { meta: { tag: { system: string; code: string }[] } }).meta.tag).to.deep.include({ system: TENANT_TAG_SYSTEM, code: TEST_TENANT });
    const found = (await (await get(search)).json()) as { entry?: { resource: { id: string } }[] };
    expect((found.entry ?? []).map((x) => `Patient/${x.resource.id}`)).to.include(patient);
    expect((await get(`/api/consultations/${consultation.id}`)).status).to.equal(200);
    const again = await ingest(e, body);
    expect(again.duplicate).to.equal(true);
    expect(again.messageId).to.equal(rec.messageId);

    const second = await cli(e, 'tenants', 'assign', '--tenant', TEST_TENANT);
    expect(second.stdout).to.include('assigned to le-1: 0 messages, 0 consultations, 0 reports, 0 FHIR resources, 0 FHIR versions, 0 search keys');
  });
});
