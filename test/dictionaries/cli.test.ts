import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { DictionaryService } from '../../src/dictionaries/service.js';
import { databaseUri, engine, tmpDir } from '../support/harness.js';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `hl7-engine dictionaries …` as a separate process against a temporary database. */
function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'dictionaries', ...args], {
      cwd: projectRoot,
      env: { ...process.env, LOG_LEVEL: 'silent', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('CLI: dictionaries load', function () {
  this.timeout(120_000);
  const database = `test_cli_${randomUUID().slice(0, 8)}`;
  let env: Record<string, string>;
  let work: string;
  let service: DictionaryService;

  before(() => {
    work = fs.mkdtempSync(path.join(tmpDir(), 'dict-cli-'));
    env = { MONGODB_URI: databaseUri(), MONGODB_DATABASE: database, DATA_DIR: path.join(work, 'data') };
    service = new DictionaryService(engine().ctx.database.client.db(database), { cacheCheckMs: 0, versionsKept: 20 });
  });

  after(async () => {
    await engine().ctx.database.client.db(database).dropDatabase().catch(() => {});
  });

  it('loads a folder into an empty database, then reports everything unchanged on a second run', async () => {
    const dir = engine().config.dictionaries.dir;
    const first = await cli(['load', dir], env);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/^ICPC2: created as revision 1 with 726 codes$/m);
    expect(first.stdout).to.match(/^eHealth\/ICD10_AM\/condition_codes: created as revision 1 with 9530 codes$/m);
    expect(await service.isValidCode('ICPC2', 'K86')).to.equal(true);
    expect((await service.list()).length).to.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json')).length);

    const second = await cli(['load', dir], env);
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout).to.match(/^ICPC2: unchanged \(revision 1\)$/m);
    expect(second.stdout).not.to.match(/created|→/);
  });

  it('--dry-run prints the diff and writes nothing; without it the new revision is stored', async () => {
    const file = path.join(work, 'medication-unit.json');
    const doc = JSON.parse(fs.readFileSync(path.join(engine().config.dictionaries.dir, 'medication-unit.json'), 'utf8'));
    doc.version = '2026-01';
    doc.codes.push({ code: 'TABLET', display: { uk: 'таблетка' }, active: true });
    doc.codes = doc.codes.filter((c: any) => c.code !== 'VIAL');
    fs.writeFileSync(file, JSON.stringify(doc));

    const dry = await cli(['load', file, '--dry-run'], env);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.include('MEDICATION_UNIT: would change revision 1: +1 added, -1 removed, ~0 changed, 10 unchanged; metadata: version');
    expect(dry.stdout).to.include('dry run: nothing was written');
    expect(await service.isValidCode('MEDICATION_UNIT', 'TABLET')).to.equal(false);

    const real = await cli(['load', file], env);
    expect(real.code, real.stderr).to.equal(0);
    expect(real.stdout).to.include('MEDICATION_UNIT: revision 1 → 2: +1 added, -1 removed');
    expect(await service.isValidCode('MEDICATION_UNIT', 'TABLET')).to.equal(true);
    expect(await service.isValidCode('MEDICATION_UNIT', 'VIAL')).to.equal(false);
  });

  it('loads an ISO-8859-1 CSV with --name and --charset; refuses it without --charset', async () => {
    const file = path.join(work, '8116.csv');
    fs.writeFileSync(file, Buffer.from('code;display_nb\nFNR;Fødselsnummer\nDNR;D-nummer\nXYZ;Prøvenummer\n', 'latin1'));
    const refused = await cli(['load', file, '--name', '8116'], env);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/not valid UTF-8.*--charset/);
    expect((await service.get('8116'))!.revision).to.equal(1);

    const ok = await cli(['load', file, '--name', '8116', '--charset', 'iso-8859-1', '--missing', 'deactivate', '--version', 'local-1'], env);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/^8116: revision 1 → 2: \+1 added, -0 removed, ~14 changed/m);
    expect((await service.getCode('8116', 'XYZ'))?.display.nb).to.equal('Prøvenummer');
    expect(await service.isValidCode('8116', 'HNR')).to.equal(false); // missing from the CSV → deactivated
    expect((await service.get('8116'))!.meta.version).to.equal('local-1');
  });

  it('reports invalid files (exit code 1) and still loads the valid ones', async () => {
    const dir = path.join(work, 'mixed');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, 'a-bad.json'),
      JSON.stringify({ name: 'LOCAL/bad', version: '1', languages: ['en'], codes: [{ code: 'A', display: { en: 'a' } }, { code: 'A', display: { en: 'again' } }] }),
    );
    fs.writeFileSync(path.join(dir, 'b-good.json'), JSON.stringify({ name: 'LOCAL/good', version: '1', languages: ['en'], codes: [{ code: 'A', display: { en: 'a' } }] }));
    const r = await cli(['load', dir], env);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('a-bad.json');
    expect(r.stderr).to.match(/\$\.codes\[1\]\.code: duplicate code "A"/);
    expect(r.stdout).to.match(/^LOCAL\/good: created as revision 1 with 1 codes$/m);
    expect(await service.get('LOCAL/bad')).to.equal(undefined);
    expect(await service.isValidCode('LOCAL/good', 'A')).to.equal(true);
  });

  it('rollback returns to the previous revision (or --to one) as a new revision, like the admin API; --dry-run writes nothing', async () => {
    const file = path.join(work, 'rollback.json');
    const doc = { name: 'LOCAL/undo', version: 'v1', languages: ['en'], codes: [{ code: 'A', display: { en: 'a' } }, { code: 'B', display: { en: 'b' } }] };
    fs.writeFileSync(file, JSON.stringify(doc));
    const first = await cli(['load', file], env);
    expect(first.code, first.stderr).to.equal(0);
    fs.writeFileSync(file, JSON.stringify({ ...doc, version: 'v2', codes: [doc.codes[0]] }));
    const second = await cli(['load', file], env);
    expect(second.stdout).to.include('LOCAL/undo: revision 1 → 2');
    expect(await service.isValidCode('LOCAL/undo', 'B')).to.equal(false);

    const dry = await cli(['rollback', 'LOCAL/undo', '--dry-run'], env);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.equal('LOCAL/undo: would change revision 2: +1 added, -0 removed, ~0 changed, 1 unchanged; metadata: version (content of revision 1)\ndry run: nothing was written\n');
    expect((await service.get('LOCAL/undo'))!.revision).to.equal(2);

    const back = await cli(['rollback', 'LOCAL/undo', '--by', 'operator-7'], env);
    expect(back.code, back.stderr).to.equal(0);
    expect(back.stdout).to.equal('LOCAL/undo: revision 2 → 3: +1 added, -0 removed, ~0 changed, 1 unchanged; metadata: version (content of revision 1)\n');
    const now = (await service.get('LOCAL/undo'))!;
    expect(now.revision).to.equal(3);
    expect(now.meta.version).to.equal('v1');
    expect(await service.isValidCode('LOCAL/undo', 'B')).to.equal(true);

    const to2 = await cli(['rollback', 'LOCAL/undo', '--to', '2'], env);
    expect(to2.code, to2.stderr).to.equal(0);
    expect(to2.stdout).to.match(/^LOCAL\/undo: revision 3 → 4: \+0 added, -1 removed.*\(content of revision 2\)\n$/);
    expect(await service.isValidCode('LOCAL/undo', 'B')).to.equal(false);

    // The service's refusals come out as the command's error (exit code 1).
    const missing = await cli(['rollback', 'LOCAL/undo', '--to', '99'], env);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.include('Revision 99 of LOCAL/undo is not kept any more');
    const unknown = await cli(['rollback', 'LOCAL/none'], env);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.include('Dictionary LOCAL/none not found');
    expect((await service.get('LOCAL/undo'))!.revision).to.equal(4);
  });
});
