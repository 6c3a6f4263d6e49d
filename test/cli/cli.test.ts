/**
 * The command line, run as a real process against the test database (the embedded default's resolution with
 * MONGODB_URI set to it) and the shared engine.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { engine } from '../support/harness.js';
import { runCli, type CliResult } from '../support/cli.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');

/** Resolves with the output; rejects with it (and the exit code) when the command fails. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r = await runCli(engine(), args, { LOG_LEVEL: 'silent', ...env });
  if (r.code !== 0) throw r;
  return r;
}

describe('command line', function () {
  this.timeout(120_000);

  it('has --help for every command', async () => {
    const { stdout } = await cli(['--help']);
    const commands = ['token', 'dictionaries', 'registries', 'ingest', 'replay', 'keys', 'db'];
    for (const command of commands) expect(stdout, command).to.match(new RegExp(`^\\s+${command}\\b`, 'm'));
    const helps = await Promise.all(commands.map((command) => cli([command, '--help'])));
    helps.forEach((help, i) => expect(help.stdout, commands[i]).to.match(/^Usage: hl7-engine /));
  });

  it('token prints a token the engine accepts, with the scopes and claims asked for', async () => {
    const { stdout } = await cli(['token', '--scope', 'job:read admin', '--sub', 'operator-7', '--client-id', 'le-42']);
    const token = stdout.trim();
    const [, payload] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    expect(claims).to.include({ sub: 'operator-7', client_id: 'le-42', scope: 'job:read admin' });
    const res = await fetch(`${engine().url}/api/jobs?page_size=1`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).to.equal(200);
  });

  it('npm run token runs the compiled CLI (dist/, built by npm ci) and its token is accepted', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.token).to.equal('node dist/cli/main.js token');
    expect(fs.existsSync(path.join(root, 'dist', 'cli', 'main.js')), 'dist/cli/main.js is missing: npm ci (or npm run build) compiles it').to.equal(true);
    const e = engine();
    const { stdout } = await run('npm', ['run', '-s', 'token', '--', '--scope', 'job:read', '--client-id', 'le-42'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: e.config.dataDir, LOG_LEVEL: 'silent' },
      timeout: 60_000,
    });
    const res = await fetch(`${e.url}/api/jobs?page_size=1`, { headers: { authorization: `Bearer ${stdout.trim()}` } });
    expect(res.status).to.equal(200);
  });

  it('token refuses to mint when an external identity provider is configured', async () => {
    const err = await cli(['token', '--scope', 'admin'], { AUTH_JWKS_URI: 'https://idp.example/jwks.json', AUTH_AUDIENCE: 'hl7-engine' }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).to.equal(1);
    expect(err?.stderr).to.match(/external identity provider/);
  });

  it('db install reports the database it will use without building anything when one is there', async () => {
    const { stdout } = await cli(['db', 'install']);
    expect(stdout).to.match(/MONGODB_URI is set|mongod found|FerretDB found/);
  });
});
