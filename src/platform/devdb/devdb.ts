/**
 * A real MongoDB-protocol database from the project's own files, for `npm start` without MONGODB_URI and for tests.
 *
 * Resolution order:
 *   1. MONGODB_URI (used as is, nothing started),
 *   2. a `mongod` on PATH, started on a free loopback port with its own data directory,
 *   3. FerretDB 1.24.2 with its SQLite backend (built with `go install` when the binary is missing),
 *   4. otherwise an error that says how to provide MongoDB.
 * The server is pinged until it answers and stopped when the process exits. A server already running on the same
 * data directory (the engine's, when a CLI command runs beside it) is reused instead of started twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { freePort } from './free-port.js';
import { findOnPath, findFerretDb, installFerretDb } from './ferretdb-binary.js';

type DatabaseKind = 'external' | 'mongod' | 'ferretdb';

export interface EmbeddedDatabase {
  kind: DatabaseKind;
  uri: string;
  /** Stops the server this module started (no-op for an external database). */
  stop(): Promise<void>;
}

interface ResolveOptions {
  uri?: string;
  /** Directory for the server's files (persistent for npm start, throwaway for tests). */
  dataDir: string;
  /** Fixed port (used to restart a server on the same address); a free port when absent. */
  port?: number;
  /** Build FerretDB when missing (default true). */
  install?: boolean;
  onProgress?: (message: string) => void;
}

class NoDatabaseError extends Error {
  constructor(detail: string) {
    super(
      'No MongoDB-protocol database available: set MONGODB_URI=mongodb://host:27017, or put mongod on PATH, ' +
        `or install Go so FerretDB 1.24.2 can be built (go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2). ${detail}`,
    );
    this.name = 'NoDatabaseError';
  }
}

export async function resolveDatabase(opts: ResolveOptions): Promise<EmbeddedDatabase> {
  if (opts.uri) return { kind: 'external', uri: opts.uri, stop: async () => {} };
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const shared = await reuseRunning(opts.dataDir);
  if (shared) return shared;

  const mongod = findOnPath('mongod');
  if (mongod) {
    const port = opts.port ?? (await freePort());
    const dbPath = path.join(opts.dataDir, 'mongod');
    fs.mkdirSync(dbPath, { recursive: true });
    return startServer('mongod', mongod, ['--dbpath', dbPath, '--port', String(port), '--bind_ip', '127.0.0.1', '--quiet'], port, opts.dataDir);
  }

  let ferret = findFerretDb();
  if (!ferret && opts.install !== false) {
    opts.onProgress?.('FerretDB binary not found: building it with go install (first time only, takes a few minutes)');
    ferret = await installFerretDb(opts.onProgress);
  }
  if (!ferret) throw new NoDatabaseError('Neither mongod nor a FerretDB binary was found.');

  const port = opts.port ?? (await freePort());
  const sqliteDir = path.join(opts.dataDir, 'ferretdb');
  const stateDir = path.join(opts.dataDir, 'ferretdb-state');
  fs.mkdirSync(sqliteDir, { recursive: true });
  fs.mkdirSync(stateDir, { recursive: true });
  return startServer(
    'ferretdb',
    ferret,
    [
      '--handler=sqlite',
      `--sqlite-url=file:${sqliteDir}/?_pragma=synchronous(normal)`,
      `--listen-addr=127.0.0.1:${port}`,
      `--state-dir=${stateDir}`,
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=ERROR',
    ],
    port,
    opts.dataDir,
  );
}

const SERVER_FILE = 'server.json';

/**
 * A server already running on this data directory (the engine's, while a CLI command runs beside it, or one left by
 * a killed engine) is used as it is, without owning it; one that no longer answers is stopped first.
 */
async function reuseRunning(dataDir: string): Promise<EmbeddedDatabase | undefined> {
  const file = path.join(dataDir, SERVER_FILE);
  let info: { pid: number; uri: string; kind: 'mongod' | 'ferretdb' };
  try {
    info = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  const ours = (() => {
    try {
      return fs.readFileSync(`/proc/${info.pid}/cmdline`, 'utf8').includes(dataDir);
    } catch {
      return false;
    }
  })();
  if (!ours) {
    fs.rmSync(file, { force: true });
    return undefined;
  }
  try {
    await waitForPing(info.uri, 2_000);
    return { kind: info.kind, uri: info.uri, stop: async () => {} };
  } catch {
    process.kill(info.pid, 'SIGTERM');
    await waitFor(() => !alive(info.pid), 5_000);
    if (alive(info.pid)) process.kill(info.pid, 'SIGKILL');
    fs.rmSync(file, { force: true });
    return undefined;
  }
}

/** Whether a process with this PID exists (signal 0 checks without signalling). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

const running = new Set<ChildProcess>();
let refusing = false;
let exitHookInstalled = false;

/**
 * Stops every server this process started (SIGTERM, SIGKILL after 5 s) and refuses to start more: for a signal
 * that arrives while the engine is still starting, before anything else owns the database.
 */
export async function stopStartedServers(): Promise<void> {
  refusing = true;
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

async function startServer(
  kind: 'mongod' | 'ferretdb',
  binary: string,
  args: string[],
  port: number,
  dataDir: string,
): Promise<EmbeddedDatabase> {
  if (refusing) throw new Error(`not starting ${kind}: the process is shutting down`);
  installExitHook();
  const logFile = path.join(dataDir, `${kind}.log`);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(binary, args, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  running.add(child);
  const uri = `mongodb://127.0.0.1:${port}/`;
  let exited = false;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      running.delete(child);
      resolve();
    }),
  );
  try {
    await waitForPing(uri, 30_000, () => exited);
    if (child.pid) fs.writeFileSync(path.join(dataDir, SERVER_FILE), JSON.stringify({ pid: child.pid, uri, kind }));
  } catch (err) {
    child.kill('SIGKILL');
    const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-5).join(' | ') : '';
    throw new NoDatabaseError(`${kind} did not answer ping on port ${port}: ${(err as Error).message}. Log: ${tail}`);
  }
  return {
    kind,
    uri,
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exitPromise;
      clearTimeout(timer);
      fs.rmSync(path.join(dataDir, SERVER_FILE), { force: true });
    },
  };
}

async function waitForPing(uri: string, timeoutMs: number, gaveUp: () => boolean = () => false): Promise<void> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < end && !gaveUp()) {
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 });
    try {
      await client.connect();
      await client.db('admin').command({ ping: 1 });
      return;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await client.close().catch(() => {});
    }
  }
  throw new Error(gaveUp() ? 'the server process exited' : `no answer after ${timeoutMs} ms (${String(lastError)})`);
}
