/**
 * The operators' commands, run as real processes (src/cli/main.ts) against an engine of their own (its own database,
 * so messages ingested by other test files cannot turn these into duplicates): what `ingest` prints on stdout, and
 * `replay --dry-run` as a preview of a mapping upgrade.
 */
import { PROJECT_ROOT, runCli } from '../support/cli.js';
import { pridokPayload } from '../support/tenants.js';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { startTestEngine, tmpDir, TEST_TENANT, type TestEngine } from '../support/harness.js';
import { sharedPath } from '../support/shared.js';

const root = PROJECT_ROOT;
const SAMPLES = sharedPath('fixtures', 'ehelse', 'samples', 'henvisning-v2.0');

const cli = (e: TestEngine, args: string[], env: Record<string, string> = {}) => runCli(e, args, env);

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('command line: operators', function () {
  this.timeout(240_000);
  let e: TestEngine;
  before(async () => {
    e = await startTestEngine();
  });
  after(async () => e?.stop());

  it('ingest prints only its result lines on stdout; log lines go to stderr', async () => {
    const file = path.join(SAMPLES, 'Henvisning_ny_tilstand_v2-0_Ny.xml');
    // The default level: no LOG_LEVEL at all.
    const quiet = await cli(e, ['ingest', '--tenant', TEST_TENANT, file]);
    expect(quiet.code, quiet.stderr).to.equal(0);
    expect(quiet.stdout).to.match(new RegExp(`^${escape(file)}: processed \\(AppRec status 1, message [\\w-]+\\)\\n1 files: 1 processed\\n$`));

    // Asked for info lines: they are written, on stderr; stdout stays exactly the results.
    const other = path.join(SAMPLES, 'Henvisning_ny_tilstand_v2-0_Uten_rettighetsvurdering_Ny.xml');
    const verbose = await cli(e, ['ingest', '--tenant', TEST_TENANT, other], { LOG_LEVEL: 'info' });
    expect(verbose.code, verbose.stderr).to.equal(0);
    expect(verbose.stdout).to.match(new RegExp(`^${escape(other)}: processed \\(AppRec status 1, message [\\w-]+\\)\\n1 files: 1 processed\\n$`));
    const logLines = verbose.stderr.split('\n').filter((l) => l.startsWith('{'));
    expect(logLines.map((l) => JSON.parse(l).msg)).to.include('henvisning processed');
  });

  it('replay --dry-run shows what an edited mapping would change, field by field, and writes nothing', async () => {
    const file = path.join(SAMPLES, 'Viderehenvisning_v2-0_Uten_rettighetsvurdering_Ny.xml');
    const ingested = await cli(e, ['ingest', '--tenant', TEST_TENANT, file]);
    expect(ingested.code, ingested.stderr).to.equal(0);
    const id = /message ([\w-]+)\)/.exec(ingested.stdout)![1];
    const before = (await e.ctx.ingest.messages.get(id))!;
    expect(before.status).to.equal('processed');
    const serviceRequest = before.fhir!.find((f) => f.reference.startsWith('ServiceRequest/'))!.reference;

    const token = await e.token('system/*.read');
    const versions = async () => {
      const out: Record<string, string> = {};
      for (const f of before.fhir!) {
        const res = await fetch(`${e.url}/fhir/${f.reference}`, { headers: { authorization: `Bearer ${token}` } });
        expect(res.status, f.reference).to.equal(200);
        out[f.reference] = ((await res.json()) as { meta: { versionId: string } }).meta.versionId;
      }
      return out;
    };
    const versionsBefore = await versions();

    // A copy of the mappings where the henvisning-v2.0 ServiceRequest becomes a plan instead of an order.
    const mappings = path.join(tmpDir(), `mappings-${Date.now()}`);
    fs.cpSync(path.join(root, 'mappings'), mappings, { recursive: true });
    const jsonata = path.join(mappings, 'henvisning-v2.0', 'mapping.jsonata');
    const text = fs.readFileSync(jsonata, 'utf8');
    expect(text).to.contain('"intent": "order"');
    fs.writeFileSync(jsonata, text.replace('"intent": "order"', '"intent": "plan"'));

    const filter = ['--tenant', TEST_TENANT, '--mapping-name', 'henvisning-v2.0', '--mapping-version', before.mapping!.version, '--from', before.receivedAt.toISOString()];

    // The same mappings as stored: replaying would change nothing.
    const same = await cli(e, ['replay', '--dry-run', ...filter]);
    expect(same.code, same.stderr).to.equal(0);
    expect(same.stdout).to.contain(`${id} henvisning tenant ${TEST_TENANT}`);
    expect(same.stdout).to.match(/: 0 changed, 0 created, \d+ unchanged\n/);
    expect(same.stdout).not.to.match(/^\s+(changed|created) /m);

    // The edited mapping: the ServiceRequest would change in exactly that field.
    const edited = await cli(e, ['replay', '--dry-run', ...filter], { MAPPINGS_DIR: mappings });
    expect(edited.code, edited.stderr).to.equal(0);
    const line = edited.stdout.split('\n').find((l) => l.includes(serviceRequest));
    expect(line, edited.stdout).to.match(new RegExp(`^\\s+changed\\s+${escape(serviceRequest)} `));
    expect(JSON.parse(line!.slice(line!.indexOf('{')))).to.deep.equal({ intent: ['order', 'plan'] });
    expect(edited.stdout.split('\n').filter((l) => /^\s+changed /.test(l))).to.have.length(1);
    expect(edited.stdout).to.match(/dry run: 1 messages: 1 would change FHIR resources, 0 would change nothing, 0 would not be processed; nothing was written/);

    // Nothing was written: the same FHIR versions, no new run of the message.
    expect(await versions()).to.deep.equal(versionsBefore);
    const after = (await e.ctx.ingest.messages.get(id))!;
    expect(after.runs).to.have.length(before.runs.length);
    expect(after.updatedAt.getTime()).to.equal(before.updatedAt.getTime());

    // The real replay with the edited mapping does what the preview said: a new version of the ServiceRequest only.
    const replayed = await cli(e, ['replay', ...filter], { MAPPINGS_DIR: mappings });
    expect(replayed.code, replayed.stderr).to.equal(0);
    const versionsAfter = await versions();
    for (const [ref, v] of Object.entries(versionsBefore)) {
      if (ref === serviceRequest) expect(versionsAfter[ref], ref).not.to.equal(v);
      else expect(versionsAfter[ref], ref).to.equal(v);
    }
  });

  it('replay --dry-run follows the merge rules: a field the mapping may not update shows as unchanged (Pridok)', async () => {
    const work = fs.mkdtempSync(path.join(tmpDir(), 'pridok-preview-'));
    const file = path.join(work, 'referral.json');
    fs.writeFileSync(file, JSON.stringify(pridokPayload({ Email: undefined })));
    const ingested = await cli(e, ['ingest', '--tenant', TEST_TENANT, file]);
    expect(ingested.stdout, ingested.stderr).to.match(/: processed \(HTTP 201\)\n/);
    const from = new Date(Date.now() - 60_000).toISOString();

    // The ServiceRequest's intent changes in the mapping, but its entry updates no field of a stored ServiceRequest.
    const mappings = path.join(work, 'mappings');
    fs.cpSync(path.join(root, 'mappings'), mappings, { recursive: true });
    const jsonata = path.join(mappings, 'pridok-referral-v1', 'mapping.jsonata');
    const text = fs.readFileSync(jsonata, 'utf8');
    expect(text).to.contain('"intent": "order"');
    fs.writeFileSync(jsonata, text.replace('"intent": "order"', '"intent": "plan"'));

    const out = await cli(e, ['replay', '--dry-run', '--tenant', TEST_TENANT, '--source', 'pridok', '--from', from], { MAPPINGS_DIR: mappings });
    expect(out.code, out.stderr).to.equal(0);
    expect(out.stdout).to.match(/pridok tenant le-1 pridok-referral-v1 [\d.]+ \(stored: pridok-referral-v1 [\d.]+, processed\): 0 changed, 0 created, 3 unchanged\n/);
    expect(out.stdout).to.match(/^\s+unchanged ServiceRequest\/\S+ \(the mapping updates no field of it\)$/m);
  });
});
