/**
 * SIGTERM at any time of start-up stops the embedded database the engine launched: nothing is left running.
 * The engine entry point runs as a child process (no MONGODB_URI, so it starts its own database); only that
 * process and the database it spawned (found through its process tree) are signalled, by pid.
 */
import { alive } from '../../src/platform/devdb/devdb.js';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';

const ROOT = path.resolve(import.meta.dirname, '../..');


/** Pids of the direct children of `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
      if (new RegExp(`^PPid:\\s+${pid}$`, 'm').test(status)) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** Processes whose command line names `dir` (a database started for that data directory), zombies excepted. */
function processesUsing(dir: string): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const state = /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (state !== 'Z' && fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) out.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

async function waitUntil<T>(fn: () => T | undefined, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function startEntry(dataDir: string): ChildProcess {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' };
  delete env.MONGODB_URI;
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('hostile conditions: SIGTERM during start-up', function () {
  this.timeout(90_000);
  const dirs: string[] = [];
  const started: ChildProcess[] = [];
  const databases: { pid: number; dir: string }[] = [];

  afterEach(() => {
    // Whatever a failed case left behind, stopped by the pids this test started or found in their process tree.
    // A database pid is signalled only while its command line still names the test's data directory.
    for (const d of databases.splice(0)) if (processesUsing(d.dir).includes(d.pid)) process.kill(d.pid, 'SIGKILL');
    for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('SIGTERM as soon as the embedded database process exists: it is stopped, the engine exits', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hl7-sigterm-'));
    dirs.push(dataDir);
    const entry = startEntry(dataDir);
    started.push(entry);
    let log = '';
    entry.stdout!.on('data', (c) => (log += String(c)));
    entry.stderr!.on('data', (c) => (log += String(c)));
    const db = await waitUntil(() => childrenOf(entry.pid!).find((pid) => processesUsing(dataDir).includes(pid)), 60_000);
    expect(db, `no database process appeared; engine output: ${log.slice(-2000)}`).to.be.a('number');
    databases.push({ pid: db!, dir: dataDir });
    expect(log).to.not.match(/engine listening/); // still starting
    process.kill(entry.pid!, 'SIGTERM');
    expect(await exited(entry, 20_000), 'the engine did not exit').to.equal(true);
    expect(await waitUntil(() => (alive(db!) && !/^State:\s+Z/m.test(safeStatus(db!)) ? undefined : true), 5_000), `database pid ${db} still running`).to.equal(true);
    expect(processesUsing(dataDir)).to.deep.equal([]);
  });

  // Later moments of start-up, recognised by the engine's own log lines: the database answers and collections,
  // keys and dictionaries are being set up; and start-up done.
  for (const moment of ['embedded database started', 'engine listening']) {
    it(`SIGTERM when the log says "${moment}": the engine exits and its database is stopped`, async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hl7-sigterm-'));
      dirs.push(dataDir);
      const entry = startEntry(dataDir);
      started.push(entry);
      let log = '';
      const seen = new Promise<void>((resolve) => {
        const onData = (c: Buffer) => {
          log += String(c);
          if (log.includes(moment)) resolve();
        };
        entry.stdout!.on('data', onData);
        entry.stderr!.on('data', onData);
      });
      const ok = await Promise.race([seen.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 60_000))]);
      expect(ok, `"${moment}" never logged: ${log.slice(-2000)}`).to.equal(true);
      databases.push(...childrenOf(entry.pid!).map((pid) => ({ pid, dir: dataDir })));
      expect(databases.length).to.be.above(0);
      process.kill(entry.pid!, 'SIGTERM');
      expect(await exited(entry, 30_000), 'the engine did not exit').to.equal(true);
      expect(entry.exitCode).to.equal(0);
      expect(await waitUntil(() => (processesUsing(dataDir).length === 0 ? true : undefined), 5_000), 'database still running').to.equal(true);
    });
  }
});

function safeStatus(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}
