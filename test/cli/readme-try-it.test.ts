/**
 * The README's "Try it" blocks, one per user, run as a reader pastes them (bash, curl, jq, npm run token/cli) against a
 * test engine started like the README's start command: `localhost:8080` becomes the test engine's address and `.data/`
 * its data directory. Each block is found by its `<!-- try-it: <user> -->` marker and holds at most five commands.
 * The blocks run in the README's order on one engine, as a reader would: the FHIR client and the practitioner find the
 * referral the EPJ sender posted; the dictionary admin's block comes after the demo, which needs the unit it toggles.
 * `npm run token` runs the compiled CLI (`npm run build` first).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { databaseUri, startTestEngine, tmpDir, type TestEngine } from '../support/harness.js';
import { PROJECT_ROOT } from '../support/cli.js';

const run = promisify(execFile);
const TENANTS = '[{"id":"my-legal-entity","henvisning_receiver_her_ids":["59"]}]';

/** The marked blocks of the README, by user, in their order. */
function tryItBlocks(): Map<string, string> {
  const readme = fs.readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
  const out = new Map<string, string>();
  for (const m of readme.matchAll(/<!-- try-it: ([^>]+?) -->\n```sh\n([\s\S]*?)```/g)) out.set(m[1], m[2]);
  return out;
}

/** Commands of a block: lines joined over trailing backslashes, blank lines and comment lines left out. */
const commands = (block: string) =>
  block
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));

describe('README: the "Try it" block of every user runs', function () {
  this.timeout(300_000);
  const blocks = tryItBlocks();
  let e: TestEngine;
  let env: Record<string, string>;

  before(async () => {
    const anchors = path.join(tmpDir(), `try-it-anchors-${Date.now()}.pem`);
    fs.writeFileSync(anchors, '');
    e = await startTestEngine({
      env: { TENANTS, SIGNATURE_TRUST_ANCHORS: anchors, SIGNATURE_TRUST_RELOAD_MS: '200', JOBS_POLL_INTERVAL_MS: '200', INGEST_WORKER_THREADS: '1', INGEST_TIME_BUDGET_MS: '60000' },
    });
    env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATA_DIR: e.config.dataDir,
      MONGODB_URI: databaseUri(),
      MONGODB_DATABASE: e.config.mongodbDatabase,
      TENANTS,
      SIGNATURE_TRUST_ANCHORS: anchors,
      SIGNATURE_TRUST_RELOAD_MS: '200',
      PORT: String(e.port),
    };
  });
  after(async () => e?.stop());

  const runBlock = async (user: string): Promise<string> => {
    const block = blocks.get(user);
    expect(block, `no <!-- try-it: ${user} --> block in README.md`).to.be.a('string');
    const script = block!.replaceAll('localhost:8080', `127.0.0.1:${e.port}`).replaceAll('.data/', `${e.config.dataDir}/`);
    try {
      const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], { cwd: PROJECT_ROOT, env, timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      const x = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`${user}: ${x.message}\n${x.stdout ?? ''}\n${x.stderr ?? ''}`);
    }
  };

  it('has a block for each of the six users, none longer than five commands', () => {
    expect([...blocks.keys()]).to.deep.equal(['EPJ sender', 'FHIR client', 'eHealth client', 'practitioner', 'dictionary admin', 'operator']);
    for (const [user, block] of blocks) expect(commands(block).length, user).to.be.within(1, 5);
  });

  it('EPJ sender: posts a henvisning, gets an AppRec and sees the message processed', async () => {
    const out = await runBlock('EPJ sender');
    expect(out).to.match(/<(\w+:)?AppRec[\s\S]*<(\w+:)?Status V="1"/);
    expect(out).to.include('"status": "processed"').and.include('"name": "henvisning-v2.0"');
  });

  it('FHIR client: reads the CapabilityStatement and the referral as a ServiceRequest', async () => {
    const out = await runBlock('FHIR client');
    expect(out).to.include('"4.0.1"').and.include('"status": "active"').and.match(/"reference": "Patient\//);
  });

  it('eHealth client: the demo, then its commands post the signed activity and poll the job to processed', async () => {
    const out = await runBlock('eHealth client');
    expect(out).to.include('TOKEN=$(').and.include('"status": "processed"').and.include('"entity": "care_plan_activity"');
  });

  it('practitioner: takes the referral as a consultation through to completed', async () => {
    expect((await runBlock('practitioner')).trim()).to.equal('"completed"');
  });

  it('dictionary admin: reads a code, deactivates it, rolls the change back with the CLI', async () => {
    const out = await runBlock('dictionary admin');
    expect(out).to.include('"code":"PILL"').and.include('"changed":true').and.match(/MEDICATION_UNIT/);
    const pill = await fetch(`${e.url}/api/dictionaries/MEDICATION_UNIT/codes/PILL`, { headers: { authorization: `Bearer ${await e.token('dictionaries:read')}` } });
    expect(((await pill.json()) as { data: { active: boolean } }).data.active).to.equal(true);
  });

  it('operator: readiness, installed mappings, a replay dry run, failed jobs', async () => {
    const out = await runBlock('operator');
    expect(out).to.include('"current":true').and.include('dry run: 1 messages');
  });
});
