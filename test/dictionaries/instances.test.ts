import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { listDictionaryFiles } from '../../src/dictionaries/service.js';
import { startTestEngine, type TestEngine } from '../support/harness.js';
import { call, colors, enc, uniqueName } from './helpers.js';

/** Two engine instances on one database, started at the same moment: seeding once, caches kept consistent. */
describe('Dictionaries across engine instances', function () {
  this.timeout(120_000);
  let a: TestEngine;
  let b: TestEngine;
  let writerA: string;
  let writerB: string;

  before(async () => {
    const database = `test_dict_${randomUUID().slice(0, 8)}`;
    // a checks the database at most every second (the default); b on every lookup.
    [a, b] = await Promise.all([
      startTestEngine({ env: { MONGODB_DATABASE: database, DICTIONARY_CACHE_CHECK_MS: '1000' } }),
      startTestEngine({ env: { MONGODB_DATABASE: database, DICTIONARY_CACHE_CHECK_MS: '0' } }),
    ]);
    writerA = await a.token('dictionaries:read dictionaries:write');
    writerB = await b.token('dictionaries:read dictionaries:write');
  });

  after(async () => {
    await a?.ctx.database.db.dropDatabase().catch(() => {});
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('stores every shipped dictionary exactly once when instances start concurrently', async () => {
    const db = a.ctx.database.db;
    const headers = await db.collection('dictionaries').find({}).toArray();
    expect(headers).to.have.length(listDictionaryFiles(a.config.dictionaries.dir).length);
    for (const h of headers) expect(h.revision, String(h._id)).to.equal(1);
    const versions = await db.collection('dictionary_versions').find({}).toArray();
    expect(versions).to.have.length(headers.length);
    for (const v of versions) expect(v.action).to.equal('seed');
    // The instance that lost the race for a dictionary removed its copy of the codes.
    const contents = await db.collection('dictionary_contents').distinct('content_id');
    expect(contents).to.have.length(headers.length);
    // Seeding again (a restart) changes nothing.
    const again = await a.ctx.dictionaries.seed(a.config.dictionaries.dir);
    expect(again.seeded).to.deep.equal([]);
  });

  it('a change made through one instance is seen by the other (stamp in the database, no events)', async () => {
    const name = uniqueName();
    const created = await call(a, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writerA, body: colors(name) });
    expect(created.status).to.equal(201);
    // b checks on every lookup: it sees the new dictionary and then its replacement at once.
    expect(await b.ctx.dictionaries.isValidCode(name, 'BLUE')).to.equal(true);
    const replaced = await call(a, 'PUT', `/api/dictionaries/${enc(name)}`, {
      token: writerA,
      body: colors(name, { codes: [{ code: 'RED', display: { en: 'Red' } }] }),
    });
    expect(replaced.status).to.equal(200);
    expect(await b.ctx.dictionaries.isValidCode(name, 'BLUE')).to.equal(false);
    expect(await b.ctx.dictionaries.isValidCode(name, 'RED')).to.equal(true);

    // a has RED cached; b deactivates it; a notices within its check interval (1 s).
    expect(await a.ctx.dictionaries.isValidCode(name, 'RED')).to.equal(true);
    const off = await call(b, 'PATCH', `/api/dictionaries/${enc(name)}/codes/RED`, { token: writerB, body: { active: false } });
    expect(off.status).to.equal(200);
    const started = Date.now();
    while ((await a.ctx.dictionaries.isValidCode(name, 'RED')) && Date.now() - started < 5_000) await new Promise((r) => setTimeout(r, 50));
    const waited = Date.now() - started;
    expect(await a.ctx.dictionaries.isValidCode(name, 'RED')).to.equal(false);
    expect(waited).to.be.below(2_500);
  });

  it('of two concurrent replacements based on the same revision one wins, the other gets 409', async () => {
    const name = uniqueName();
    await call(a, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writerA, body: colors(name) });
    const [r1, r2] = await Promise.all([
      call(a, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writerA, body: colors(name, { version: 'from-a' }), headers: { 'if-match': '"1"' } }),
      call(b, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writerB, body: colors(name, { version: 'from-b' }), headers: { 'if-match': '"1"' } }),
    ]);
    expect([r1.status, r2.status].sort()).to.deep.equal([200, 409]);
    const header = await a.ctx.database.db.collection('dictionaries').findOne({ _id: name as any });
    expect(header!.revision).to.equal(2);
    const winner = r1.status === 200 ? 'from-a' : 'from-b';
    expect(header!.meta.version).to.equal(winner);
    expect(await a.ctx.database.db.collection('dictionary_versions').countDocuments({ name })).to.equal(2);
    // The loser's content was removed again.
    const contents = await a.ctx.database.db.collection('dictionary_contents').distinct('content_id', { name });
    expect(contents).to.have.length(2);
    expect((await b.ctx.dictionaries.get(name))!.meta.version).to.equal(winner);
  });

  it('a header left behind by a crashed writer is rolled forward by the next writer', async () => {
    const name = uniqueName();
    await call(a, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writerA, body: colors(name) });
    const db = a.ctx.database.db;
    const v1 = await db.collection('dictionary_versions').findOne({ _id: `${name}@1` as any });
    // Simulate a writer that committed revision 2 and died before updating the header.
    await db.collection('dictionary_versions').insertOne({ ...v1!, _id: `${name}@2` as any, revision: 2, based_on: 1, action: 'replace', version: 'crashed', meta: { ...v1!.meta, version: 'crashed' } });
    expect((await db.collection('dictionaries').findOne({ _id: name as any }))!.revision).to.equal(1);
    const r = await call(b, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writerB, body: colors(name, { version: 'next' }) });
    expect(r.status).to.equal(409);
    expect((await db.collection('dictionaries').findOne({ _id: name as any }))!.revision).to.equal(2);
    const again = await call(b, 'PUT', `/api/dictionaries/${enc(name)}`, { token: writerB, body: colors(name, { version: 'next' }) });
    expect(again.status).to.equal(200);
    expect(again.body.data.revision).to.equal(3);
  });

  it('keeps only DICTIONARY_VERSIONS_KEPT revisions and deletes older contents', async () => {
    const e = await startTestEngine({ env: { DICTIONARY_VERSIONS_KEPT: '3' } });
    try {
      const w = await e.token('dictionaries:write dictionaries:read');
      const name = uniqueName();
      for (let i = 1; i <= 5; i++) {
        const r = await call(e, 'PUT', `/api/dictionaries/${enc(name)}`, { token: w, body: colors(name, { version: `v${i}` }) });
        expect(r.status).to.be.oneOf([200, 201]);
      }
      const v = await call(e, 'GET', `/api/dictionaries/${enc(name)}/versions`, { token: w });
      expect(v.body.data.map((x: any) => x.revision)).to.deep.equal([5, 4, 3]);
      const contents = await e.ctx.database.db.collection('dictionary_contents').distinct('content_id', { name });
      expect(contents).to.have.length(3);
      const old = await call(e, 'POST', `/api/dictionaries/${enc(name)}/rollback`, { token: w, body: { revision: 1 } });
      expect(old.status).to.equal(404);
    } finally {
      await e.ctx.database.db.dropDatabase().catch(() => {});
      await e.stop();
    }
  });
});
