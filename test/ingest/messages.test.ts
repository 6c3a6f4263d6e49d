import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { configureLogger } from '../../src/platform/logging/logger.js';
import { DEFAULT_MAPPINGS_DIR } from '../../src/mapping/registry.js';
import { databaseUri, engine, startTestEngine, tmpDir, type TestEngine, TEST_TENANT } from '../support/harness.js';
import { getMessage, ingest, postXml, sample, variant } from './support.js';

const NY = 'Henvisning_ny_tilstand_v2-0_Ny.xml';

async function get(e: TestEngine, url: string, scope: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${e.url}${url}`, { headers: { authorization: `Bearer ${await e.token(scope)}` } });
  return { status: res.status, body: await res.json() };
}

async function post(e: TestEngine, url: string, scope: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${e.url}${url}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await e.token(scope)}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function waitForJob(e: TestEngine, href: string): Promise<any> {
  for (let i = 0; i < 200; i++) {
    const r = await get(e, `${href}?details=true`, 'job:read admin');
    if (r.body.data?.status === 'processed' || r.body.data?.status === 'failed') return r.body.data;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('job did not finish');
}

describe('message store API, replay and retention', function () {
  this.timeout(120_000);

  describe('listing and reading', () => {
    let e: TestEngine;
    const ids: string[] = [];
    before(async () => {
      e = await startTestEngine();
      ids.push((await ingest(e, variant(NY, [[/<DocumentId>[^<]+</, '<DocumentId>aaaaaaaa-0000-4000-8000-000000000001<']]))).messageId);
      ids.push((await ingest(e, variant(NY, [['<Id>13116900216</Id>', '<Id>13116900217</Id>']]))).messageId);
      ids.push((await ingest(e, variant(NY, [[/<DocumentId>[^<]+</, '<DocumentId>aaaaaaaa-0000-4000-8000-000000000002<']]))).messageId);
    });
    after(async () => {
      await e?.stop();
    });

    it('lists newest first with filters and paging, without raw content', async () => {
      const all = await get(e, '/api/messages?source=henvisning', 'messages:read');
      expect(all.status).to.equal(200);
      expect(all.body.data.map((m: { id: string }) => m.id)).to.deep.equal([...ids].reverse());
      for (const m of all.body.data) {
        expect(m).not.to.have.property('raw');
        expect(m.receipt).not.to.have.property('body');
      }
      const rejected = await get(e, '/api/messages?status=rejected', 'messages:read');
      expect(rejected.body.data.map((m: { id: string }) => m.id)).to.deep.equal([ids[1]]);
      expect(rejected.body.data[0].error.code).to.equal('E31');
      const page = await get(e, '/api/messages?page=2&page_size=2', 'messages:read');
      expect(page.body.data.map((m: { id: string }) => m.id)).to.deep.equal([ids[0]]);
      expect(page.body.paging).to.include({ page_number: 2, page_size: 2, total_entries: 3, total_pages: 2 });
      const byMapping = await get(e, '/api/messages?mapping_name=henvisning-v2.0&mapping_version=1.1.0', 'messages:read');
      expect(byMapping.body.data).to.have.length(2);
      const bad = await get(e, '/api/messages?status=nope&page_size=9999', 'messages:read');
      expect(bad.status).to.equal(422);
    });

    it('raw content only with messages:read_raw', async () => {
      expect((await get(e, `/api/messages/${ids[0]}?include_raw=true`, 'messages:read')).status).to.equal(403);
      expect((await get(e, '/api/messages?include_raw=true', 'messages:read')).status).to.equal(403);
      const full = await get(e, `/api/messages/${ids[0]}?include_raw=true`, 'messages:read messages:read_raw');
      expect(full.status).to.equal(200);
      expect(Buffer.from(full.body.data.raw.content, 'base64').toString()).to.include('<MsgHead');
      expect(full.body.data.receipt.body).to.include('<AppRec');
      const res = await fetch(`${e.url}/api/messages/${ids[0]}/raw`, { headers: { authorization: `Bearer ${await e.token('messages:read_raw')}` } });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^application\/xml/);
      expect(await res.text()).to.include('<MsgHead');
      const denied = await fetch(`${e.url}/api/messages/${ids[0]}/raw`, { headers: { authorization: `Bearer ${await e.token('messages:read')}` } });
      expect(denied.status).to.equal(403);
      await denied.arrayBuffer();
    });

    it('needs a token with messages:read; unknown ids are 404', async () => {
      const res = await fetch(`${e.url}/api/messages`);
      expect(res.status).to.equal(401);
      await res.arrayBuffer();
      expect((await get(e, '/api/messages', 'messages:write')).status).to.equal(403);
      expect((await get(e, `/api/messages/${randomUUID()}`, 'messages:read')).status).to.equal(404);
    });

    it('retention: every message expires MESSAGE_RETENTION_DAYS after receipt and the sweeper deletes expired ones', async () => {
      const m = await getMessage(e, ids[0]);
      const days = (Date.parse(m.expires_at as string) - Date.parse(m.received_at as string)) / 86_400_000;
      expect(days).to.equal(e.config.ingest.retentionDays);
      const store = e.ctx.ingest.messages;
      await store.collection.updateOne({ _id: ids[1] }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
      expect(await store.sweepExpired()).to.equal(1);
      expect((await get(e, `/api/messages/${ids[1]}`, 'messages:read')).status).to.equal(404);
    });
  });

  describe('retention of messages kept in media storage', () => {
    it('the sweep erases the raw bytes from media storage before the message, and the TTL index never sees them', async () => {
      const e = await startTestEngine({ env: { MESSAGE_INLINE_MAX_BYTES: '1kb' } });
      try {
        const body = Buffer.from(variant(NY), 'latin1');
        const { messageId } = await ingest(e, body);
        const store = e.ctx.ingest.messages;
        const doc = (await store.get(messageId))!;
        expect(doc.rawMedia, 'stored in media storage').to.exist;
        expect(doc).not.to.have.property('raw');
        expect(doc, 'no TTL field: the TTL monitor would leave the bytes behind').not.to.have.property('expiresAt');
        const m = await getMessage(e, messageId, true);
        expect((Date.parse(m.expires_at as string) - Date.parse(m.received_at as string)) / 86_400_000).to.equal(e.config.ingest.retentionDays);
        expect(Buffer.from(m.raw!.content, 'base64').equals(body)).to.equal(true);
        const root = (e.ctx.media as unknown as { rootDir: string }).rootDir;
        const blob = path.join(root, 'blobs', doc.sha256.slice(0, 2), doc.sha256);
        expect(fs.existsSync(blob)).to.equal(true);

        // not yet expired: the sweep keeps it
        expect(await store.sweepExpired()).to.equal(0);
        await store.collection.updateOne({ _id: messageId }, { $set: { retainUntil: new Date(Date.now() - 1000) } });
        expect(await store.sweepExpired()).to.equal(1);
        expect((await get(e, `/api/messages/${messageId}`, 'messages:read')).status).to.equal(404);
        expect(await e.ctx.media.get(doc.rawMedia!.key)).to.equal(undefined);
        expect(fs.existsSync(blob), 'the bytes are erased from disk').to.equal(false);
      } finally {
        await e.stop();
      }
    });

    it('a resend of a large message leaves nothing in media storage that outlives the original', async () => {
      const e = await startTestEngine({ env: { MESSAGE_INLINE_MAX_BYTES: '1kb' } });
      try {
        const body = Buffer.from(variant(NY), 'latin1');
        const { messageId } = await ingest(e, body);
        expect((await ingest(e, body)).duplicate).to.equal(true);
        const store = e.ctx.ingest.messages;
        const doc = (await store.get(messageId))!;
        const blob = path.join((e.ctx.media as unknown as { rootDir: string }).rootDir, 'blobs', doc.sha256.slice(0, 2), doc.sha256);
        await store.collection.updateOne({ _id: messageId }, { $set: { retainUntil: new Date(Date.now() - 1000) } });
        expect(await store.sweepExpired()).to.equal(1);
        expect(fs.existsSync(blob), 'the bytes are erased although they were received twice').to.equal(false);
      } finally {
        await e.stop();
      }
    });

    it('an engine stopped right after start finishes its first sweep before closing the database', async () => {
      const dbName = `test_sweep_${randomUUID().slice(0, 8)}`;
      const client = new MongoClient(databaseUri());
      try {
        const col = client.db(dbName).collection('messages');
        const past = new Date(Date.now() - 86_400_000);
        await col.insertMany(
          Array.from({ length: 300 }, (_, i) => ({
            _id: randomUUID() as never,
            source: 'henvisning',
            dedupKey: `henvisning:sweep-${i}`,
            status: 'processed',
            receivedAt: past,
            retainUntil: past,
            rawMedia: { key: `messages/sweep-${i}`, sha256: '0'.repeat(64), size: 1 },
            runs: [],
            attempts: 1,
          })),
        );
        const lines: string[] = [];
        configureLogger('warn', new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
        try {
          const e = await startTestEngine({ env: { MONGODB_DATABASE: dbName, LOG_LEVEL: 'warn' } });
          await e.stop();
        } finally {
          configureLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
        }
        expect(lines.join(''), 'no sweep cut short by the shutdown').not.to.include('sweep failed');
        expect(await col.countDocuments({})).to.equal(0);
      } finally {
        await client.close();
      }
    });

    it('a blob shared by two keys stays until the last key is deleted', async () => {
      const media = (await import('../../src/platform/storage/local-media-storage.js')).LocalMediaStorage;
      const m = new media(path.join(tmpDir(), `media-${randomUUID().slice(0, 8)}`));
      const bytes = Buffer.from('same bytes under two keys');
      const a = await m.put('k/a', bytes, 'text/plain');
      await m.put('k/b', bytes, 'text/plain');
      const blob = path.join(m.rootDir, 'blobs', a.sha256.slice(0, 2), a.sha256);
      expect(await m.delete('k/a')).to.equal(true);
      expect(await m.delete('k/a')).to.equal(false);
      expect(fs.existsSync(blob)).to.equal(true);
      expect((await m.get('k/b'))!.bytes.equals(bytes)).to.equal(true);
      // re-pointing a key lets go of its old bytes
      await m.put('k/b', Buffer.from('other bytes'), 'text/plain');
      expect(fs.existsSync(blob)).to.equal(false);
      expect((await m.get('k/b'))!.bytes.toString()).to.equal('other bytes');
    });
  });

  describe('replay after fixing the cause', () => {
    it('a message rejected because its receiver was not served (E21) is processed by replay once the allow-list includes it', async () => {
      const dbName = `test_replay_${randomUUID().slice(0, 8)}`;
      const a = await startTestEngine({ env: { MONGODB_DATABASE: dbName, TENANTS: JSON.stringify([{ id: TEST_TENANT, henvisning_receiver_her_ids: ['12345'] }]) } });
      let id: string;
      try {
        const rec = await ingest(a, sample(NY));
        expect(rec.status).to.equal('2');
        expect(rec.errors.map((x) => x.V)).to.deep.equal(['E21']);
        id = rec.messageId;
      } finally {
        await a.stop();
      }
      const b = await startTestEngine({
        env: { MONGODB_DATABASE: dbName, TENANTS: JSON.stringify([{ id: TEST_TENANT, henvisning_receiver_her_ids: ['12345', '90998'] }]) },
      });
      try {
        const r = await post(b, `/api/messages/${id}/replay`, 'messages:replay');
        expect(r.status).to.equal(200);
        expect(r.body.data.status).to.equal('processed');
        expect(r.body.data.runs.map((x: { trigger: string; status: string }) => `${x.trigger}:${x.status}`)).to.deep.equal(['ingest:rejected', 'replay:processed']);
        // The sender's resend of the same MsgId now gets the new (positive) AppRec.
        const again = await ingest(b, sample(NY));
        expect(again.status).to.equal('1');
        expect(again.duplicate).to.equal(true);
      } finally {
        await b.stop();
      }
    });

    it('a message that failed in a broken mapping (HTTP 500, stored as failed) succeeds when replayed with the fixed mapping', async () => {
      const dbName = `test_replay_${randomUUID().slice(0, 8)}`;
      const dir = path.join(tmpDir(), `mappings-${randomUUID().slice(0, 8)}`);
      fs.cpSync(DEFAULT_MAPPINGS_DIR, dir, { recursive: true });
      const file = path.join(dir, 'henvisning-v2.0', 'mapping.jsonata');
      const manifest = path.join(dir, 'henvisning-v2.0', 'manifest.json');
      const good = fs.readFileSync(file, 'utf8');
      fs.writeFileSync(file, good.replace('"resourceType": "ServiceRequest",', '"resourceType": "ServiceRequest", "status_": $error("deliberately broken"),'));
      fs.writeFileSync(manifest, fs.readFileSync(manifest, 'utf8').replace('"1.1.0"', '"0.9.0-broken"'));
      const a = await startTestEngine({ env: { MONGODB_DATABASE: dbName, MAPPINGS_DIR: dir } });
      let id: string;
      try {
        const res = await postXml(a, sample(NY));
        expect(res.status).to.equal(500);
        const body = (await res.json()) as { error: { type: string; message_id: string } };
        expect(body.error.type).to.equal('processing_failed');
        id = body.error.message_id;
        const m = await getMessage(a, id, true);
        expect(m.status).to.equal('failed');
        expect(m.error?.code).to.equal('mapping_failed');
        expect(m.mapping?.version).to.equal('0.9.0-broken');
        expect(Buffer.from(m.raw!.content, 'base64').equals(sample(NY))).to.equal(true);
      } finally {
        await a.stop();
      }
      fs.writeFileSync(file, good);
      fs.writeFileSync(manifest, fs.readFileSync(manifest, 'utf8').replace('"0.9.0-broken"', '"1.1.0"'));
      const b = await startTestEngine({ env: { MONGODB_DATABASE: dbName, MAPPINGS_DIR: dir } });
      try {
        // Replay by filter (a job): everything last mapped with the broken version.
        const r = await post(b, '/api/messages/replay', 'messages:replay', { mapping_version: '0.9.0-broken' });
        expect(r.status).to.equal(202);
        expect(r.body.data.matched).to.equal(1);
        const job = await waitForJob(b, r.body.data.links[0].href);
        expect(job.status).to.equal('processed');
        expect(job.result.response_data).to.include({ matched: 1, processed: 1, failed: 0, rejected: 0 });
        const m = await getMessage(b, id);
        expect(m.status).to.equal('processed');
        expect(m.mapping?.version).to.equal('1.1.0');
        expect(m.fhir?.some((f) => f.reference.startsWith('ServiceRequest/'))).to.equal(true);
        const rec = await ingest(b, sample(NY));
        expect(rec.status).to.equal('1');
      } finally {
        await b.stop();
      }
    });

    it('replay needs messages:replay', async () => {
      const e = await startTestEngine();
      try {
        expect((await post(e, '/api/messages/replay', 'messages:write', {})).status).to.equal(403);
        expect((await post(e, `/api/messages/${randomUUID()}/replay`, 'messages:read')).status).to.equal(403);
        expect((await post(e, `/api/messages/${randomUUID()}/replay`, 'messages:replay')).status).to.equal(404);
        expect((await post(e, '/api/messages/replay', 'messages:replay', { status: 'bogus' })).status).to.equal(422);
      } finally {
        await e.stop();
      }
    });
  });

  describe('one processing at a time', () => {
    it('resends and replays of a failed message arriving together process it once; all get that outcome', async () => {
      const e = await startTestEngine();
      try {
        // The henvisning processor of this engine: the first run fails (a simulated outage of our side), later runs
        // are slow (300 ms), so that every concurrent request below arrives while one of them is processing.
        const svc = e.ctx.ingest.henvisning as unknown as { run: (...a: unknown[]) => Promise<unknown> };
        const original = svc.run.bind(svc);
        let runs = 0;
        svc.run = async (...a: unknown[]) => {
          runs++;
          if (runs === 1) return { status: 'failed', error: { code: 'processing_failed', message: 'simulated outage' } };
          await new Promise((r) => setTimeout(r, 300));
          return original(...a);
        };
        const body = variant(NY);
        const first = await postXml(e, body);
        expect(first.status).to.equal(500);
        const id = ((await first.json()) as { error: { message_id: string } }).error.message_id;
        expect((await getMessage(e, id)).status).to.equal('failed');

        const [resends, replays] = await Promise.all([
          Promise.all(Array.from({ length: 4 }, () => ingest(e, body))),
          Promise.all(Array.from({ length: 4 }, () => post(e, `/api/messages/${id}/replay`, 'messages:replay'))),
        ]);
        expect(runs).to.equal(2); // the failed ingest and exactly one more
        for (const r of resends) expect(r).to.include({ status: '1', messageId: id, duplicate: true });
        for (const r of replays) {
          expect(r.status).to.equal(200);
          expect(r.body.data.status).to.equal('processed');
        }
        const m = (await getMessage(e, id)) as unknown as { attempts: number; runs: { trigger: string; status: string }[] };
        expect(m.attempts).to.equal(2);
        expect(m.runs.map((r) => r.status)).to.deep.equal(['failed', 'processed']);

        // A replay after that one finished is a new run, as asked.
        const again = await post(e, `/api/messages/${id}/replay`, 'messages:replay');
        expect(again.body.data.status).to.equal('processed');
        expect(runs).to.equal(3);
      } finally {
        await e.stop();
      }
    });
  });

  it('documents its routes in /api/openapi.json', async () => {
    const e = engine();
    const doc = (await (await fetch(`${e.url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    for (const [p, m] of [['/api/messages', 'post'], ['/api/messages', 'get'], ['/api/messages/{id}', 'get'], ['/api/messages/{id}/raw', 'get'], ['/api/messages/{id}/replay', 'post'], ['/api/messages/replay', 'post'], ['/api/webhooks/pridok/referrals', 'post']]) {
      expect(doc.paths[p], p).to.have.property(m);
    }
  });

  describe('logs', () => {
    it('carry no personal data: no national ids, names, phone numbers, addresses or message text', async () => {
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk, _enc, cb) {
          lines.push(String(chunk));
          cb();
        },
      });
      configureLogger('trace', sink);
      const e = await startTestEngine({ env: { LOG_LEVEL: 'trace' } });
      try {
        await ingest(e, sample(NY));
        await ingest(e, variant(NY, [['<Id>13116900216</Id>', '<Id>13116900217</Id>']]));
        await ingest(e, variant(NY, [[/<ReqServ>[\s\S]*<\/ReqServ>/, '']]));
        await ingest(e, variant(NY).replace('</MsgHead>', ''));
        await get(e, '/api/messages?external_id=13116900216', 'messages:read');
      } finally {
        await e.stop();
        configureLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
      }
      const text = lines.join('');
      expect(lines.length).to.be.greaterThan(5);
      expect(text).to.include('henvisning processed').and.include('"codes":["E31"]');
      for (const secret of ['13116900216', '13116900217', 'Danser', 'Numedalsveien', '90094004', 'Kongsberg', 'Reumatoid', 'Stadig', 'Telokk', '9144919']) {
        expect(text, secret).not.to.include(secret);
      }
    });
  });
});
