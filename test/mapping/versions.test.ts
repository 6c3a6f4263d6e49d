/**
 * Mapping versions side by side: a second version of henvisning-v2.0 installed next to the first, the current one
 * switched without a restart (API and CLI, the CLI being another process that agrees through the database), a replay
 * preview run as a job with its report kept and downloadable, and the replay of the same selection writing what the
 * preview showed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { DEFAULT_MAPPINGS_DIR } from '../../src/mapping/registry.js';
import { startTestEngine, tmpDir, type TestEngine } from '../support/harness.js';
import { runCli } from '../support/cli.js';
import { ingest, variant } from '../ingest/support.js';

const NAME = 'henvisning-v2.0';
const NY = 'Henvisning_ny_tilstand_v2-0_Ny.xml';

/** The shipped mappings plus henvisning-v2.0 version 1.2.0, which writes ServiceRequest.intent "original-order". */
function mappingsWithNextVersion(): string {
  const dir = path.join(tmpDir(), `mappings-${Date.now()}`);
  fs.cpSync(DEFAULT_MAPPINGS_DIR, dir, { recursive: true });
  const next = path.join(dir, 'henvisning-v2.0-next');
  fs.mkdirSync(next);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, NAME, 'manifest.json'), 'utf8'));
  fs.writeFileSync(path.join(next, 'manifest.json'), JSON.stringify({ ...manifest, version: '1.2.0' }));
  const expr = fs.readFileSync(path.join(dir, NAME, 'mapping.jsonata'), 'utf8');
  expect(expr.match(/"intent": "order"/g)).to.have.length(1);
  fs.writeFileSync(path.join(next, 'mapping.jsonata'), expr.replace('"intent": "order"', '"intent": "original-order"'));
  return dir;
}

type Json = any;

async function call(e: TestEngine, method: string, p: string, token: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${e.url}${p}`, {
    method,
    redirect: 'manual',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function finishedJob(e: TestEngine, href: string): Promise<Json> {
  const token = await e.token('job:read');
  for (let i = 0; i < 300; i++) {
    const job = await call(e, 'GET', href, token);
    if (job.body.data.status !== 'pending' && job.body.data.status !== 'processing') return job.body.data;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${href} did not finish`);
}

/** The value at a preview path ("a.b[0].c") of a resource. */
function at(resource: Json, p: string): unknown {
  let v = resource;
  for (const part of p.match(/[^.[\]]+/g) ?? []) v = v?.[/^\d+$/.test(part) ? Number(part) : part];
  return v ?? null;
}

describe('mapping versions: side by side, switched without a restart, previewed as a job, applied as previewed', function () {
  this.timeout(120_000);
  let e: TestEngine;
  let mappingsDir: string;
  let admin: string;
  let replay: string;
  let fhirRead: string;
  before(async () => {
    mappingsDir = mappingsWithNextVersion();
    e = await startTestEngine({ env: { MAPPINGS_DIR: mappingsDir, MAPPING_SELECTION_CACHE_MS: '200', JOBS_POLL_INTERVAL_MS: '200', INGEST_WORKER_THREADS: '1', INGEST_TIME_BUDGET_MS: '60000' } });
    admin = await e.token('admin');
    replay = await e.token('messages:replay');
    fhirRead = await e.token('system/*.read');
  });
  after(async () => e?.stop());

  const current = async () => {
    const res = await call(e, 'GET', '/api/mappings', admin);
    expect(res.status).to.equal(200);
    return (res.body.data as Json[]).filter((m) => m.name === NAME);
  };

  const serviceRequestOf = async (messageId: string) => {
    const msg = await call(e, 'GET', `/api/messages/${messageId}`, await e.token('messages:read'));
    const ref = (msg.body.data.fhir as { reference: string }[]).find((f) => f.reference.startsWith('ServiceRequest/'))!.reference;
    return { message: msg.body.data, serviceRequest: (await call(e, 'GET', `/fhir/${ref}`, fhirRead)).body };
  };

  it('lists both versions, the highest current until another is chosen; refuses unknown names and versions and non-operators', async () => {
    const both = await current();
    expect(both.map((m) => [m.version, m.current])).to.deep.equal([['1.2.0', true], ['1.1.0', false]]);
    expect(both[0].sha256).to.not.equal(both[1].sha256);

    const pin = await call(e, 'PUT', `/api/mappings/${NAME}/current`, admin, { version: '1.1.0' });
    expect(pin.status).to.equal(200);
    expect(pin.body.data).to.include({ name: NAME, version: '1.1.0', selected_by: 'user-1' });
    expect((await current()).map((m) => [m.version, m.current])).to.deep.equal([['1.2.0', false], ['1.1.0', true]]);

    const unknownVersion = await call(e, 'PUT', `/api/mappings/${NAME}/current`, admin, { version: '9.9.9' });
    expect(unknownVersion.status).to.equal(422);
    expect(unknownVersion.body.error.invalid[0].entry).to.equal('$.version');
    expect((await call(e, 'PUT', '/api/mappings/no-such-mapping/current', admin, { version: '1.0.0' })).status).to.equal(404);
    expect((await call(e, 'PUT', `/api/mappings/${NAME}/current`, admin, {})).status).to.equal(422);
    expect((await call(e, 'PUT', `/api/mappings/${NAME}/current`, replay, { version: '1.2.0' })).status).to.equal(403);
    expect((await current()).find((m) => m.current).version).to.equal('1.1.0');
  });

  it('previews the new version as a job (report kept and downloadable, nothing written), then the replay writes what it showed', async () => {
    expect((await call(e, 'PUT', `/api/mappings/${NAME}/current`, admin, { version: '1.1.0' })).status).to.equal(200);
    const rec = await ingest(e, variant(NY));
    expect(rec.status, JSON.stringify(rec)).to.equal('1');
    const before = await serviceRequestOf(rec.messageId);
    expect(before.message.mapping).to.include({ name: NAME, version: '1.1.0' });
    expect(before.serviceRequest.intent).to.equal('order');

    const selection = { ids: [rec.messageId], use_mappings: { [NAME]: '1.2.0' } };
    const bad = await call(e, 'POST', '/api/messages/replay/preview', replay, { ids: [rec.messageId], use_mappings: { [NAME]: '7.0.0' } });
    expect(bad.status).to.equal(422);
    expect(bad.body.error.invalid[0].entry).to.equal(`$.use_mappings.${NAME}`);

    const queued = await call(e, 'POST', '/api/messages/replay/preview', replay, selection);
    expect(queued.status).to.equal(202);
    expect(queued.body.data.matched).to.equal(1);
    const job = await finishedJob(e, queued.body.data.links[0].href);
    expect(job).to.deep.include({ status: 'processed', response_data: { messages: 1, changed: 1, unchanged: 0, not_processed: 0 } });
    const reportHref = job.links[0].href as string;
    const download = await fetch(`${e.url}${reportHref}`, { headers: { authorization: `Bearer ${replay}` } });
    expect(download.status).to.equal(200);
    expect(download.headers.get('content-disposition')).to.match(/^attachment; filename="replay-preview-[0-9a-f]{24}\.json"$/);
    const report = (await download.json()) as Json;
    expect(report.selection).to.deep.equal({ [NAME]: '1.2.0' });
    expect(report.messages).to.have.length(1);
    const previewed = report.messages[0];
    expect(previewed).to.deep.include({ id: rec.messageId, outcome: 'processed' });
    expect(previewed.mapping).to.include({ name: NAME, version: '1.2.0' });
    const sr = previewed.resources.find((r: Json) => r.reference === `ServiceRequest/${before.serviceRequest.id}`);
    expect(sr).to.deep.include({ change: 'changed', diff: { intent: ['order', 'original-order'] } });

    // Nothing was written by the preview.
    const still = await serviceRequestOf(rec.messageId);
    expect(still.serviceRequest.meta.versionId).to.equal(before.serviceRequest.meta.versionId);
    expect(still.message.runs).to.have.length(before.message.runs.length);

    // The replay of the same selection.
    const applied = await call(e, 'POST', '/api/messages/replay', replay, selection);
    expect(applied.status).to.equal(202);
    expect((await finishedJob(e, applied.body.data.links[0].href)).response_data).to.include({ matched: 1, processed: 1 });
    for (const r of previewed.resources as Json[]) {
      const stored = await call(e, 'GET', `/fhir/${r.reference}`, fhirRead);
      expect(stored.status, r.reference).to.equal(200);
      for (const [p, [, wouldBe]] of Object.entries(r.diff ?? {}) as [string, [unknown, unknown]][]) {
        expect(at(stored.body, p), `${r.reference} ${p}`).to.deep.equal(wouldBe);
      }
      if (r.change === 'unchanged') expect(stored.body.meta.versionId, r.reference).to.be.a('string');
    }
    const after = await serviceRequestOf(rec.messageId);
    expect(after.serviceRequest.intent).to.equal('original-order');
    expect(after.message.mapping).to.include({ name: NAME, version: '1.2.0' });
    // The current version did not change: a new message is still mapped with 1.1.0.
    const other = await ingest(e, variant(NY));
    expect((await serviceRequestOf(other.messageId)).message.mapping.version).to.equal('1.1.0');
  });

  it('switches the current version from another process (the CLI) and the running engine follows without a restart', async () => {
    const used = await runCli(e, ['mappings', 'use', NAME, '1.2.0'], { MAPPINGS_DIR: mappingsDir });
    expect(used.code, used.stderr).to.equal(0);
    expect(used.stdout).to.match(/^henvisning-v2\.0 1\.2\.0 is current/);
    const listed = await runCli(e, ['mappings', 'current'], { MAPPINGS_DIR: mappingsDir });
    expect(listed.stdout).to.match(/^\* henvisning-v2\.0\s+1\.2\.0/m);
    expect(listed.stdout).to.match(/^ {2}henvisning-v2\.0\s+1\.1\.0/m);

    // Within MAPPING_SELECTION_CACHE_MS (200 ms here) the engine maps with the new current version.
    let version = '';
    for (let i = 0; i < 50 && version !== '1.2.0'; i++) {
      const rec = await ingest(e, variant(NY));
      const { message, serviceRequest } = await serviceRequestOf(rec.messageId);
      version = message.mapping.version;
      if (version === '1.2.0') expect(serviceRequest.intent).to.equal('original-order');
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(version).to.equal('1.2.0');
    expect((await current()).find((m) => m.current).version).to.equal('1.2.0');

    const wrong = await runCli(e, ['mappings', 'use', NAME, '0.0.1'], { MAPPINGS_DIR: mappingsDir });
    expect(wrong.code).to.equal(1);
    expect(wrong.stderr).to.include('has no installed version 0.0.1');
  });
});
