/**
 * Locating and building the FerretDB 1.24.2 binary (SQLite backend) used when no MongoDB is configured.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const FERRETDB_MODULE = 'github.com/FerretDB/FerretDB';
const FERRETDB_VERSION = 'v1.24.2';

export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

/** Go's bin directory: GOBIN, else GOPATH/bin (asking `go env` when the variables are not set). */
function goBinDir(): string | undefined {
  if (process.env.GOBIN) return process.env.GOBIN;
  try {
    const [gobin, gopath] = execFileSync('go', ['env', 'GOBIN', 'GOPATH'], { encoding: 'utf8' }).split('\n');
    if (gobin.trim()) return gobin.trim();
    if (gopath.trim()) return path.join(gopath.trim().split(path.delimiter)[0], 'bin');
  } catch {
    /* go not installed */
  }
  const home = os.homedir();
  return home ? path.join(home, 'go', 'bin') : undefined;
}

/** A FerretDB binary that runs (`--version` exits 0), from Go's bin directory or PATH. */
export function findFerretDb(): string | undefined {
  const bin = goBinDir();
  const candidates = [bin ? path.join(bin, 'ferretdb') : undefined, findOnPath('ferretdb')];
  for (const candidate of candidates) {
    if (!candidate || !fs.existsSync(candidate)) continue;
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore', timeout: 10_000 });
      return candidate;
    } catch {
      /* a broken build (e.g. a plain `go install` without version.txt): rebuild */
    }
  }
  return undefined;
}

function run(cmd: string, args: string[], cwd: string, onProgress?: (m: string) => void): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    onProgress?.(`$ ${cmd} ${args.join(' ')}`);
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GOFLAGS: process.env.GOFLAGS ?? '-buildvcs=false' } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (err) => resolve({ ok: false, output: String(err) }));
    child.on('exit', (code) => resolve({ ok: code === 0, output }));
  });
}

/**
 * Builds FerretDB 1.24.2 into Go's bin directory.
 *
 * Why not plainly `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`: the module as published lacks the
 * generated `build/version/version.txt`, so that binary panics at start ("Invalid build/version/version.txt"), and
 * some module proxies also refuse the version-list request `go install pkg@version` makes. So: download the exact
 * module version (`go mod download`, checked against go.sum by Go), copy it, write version.txt, `go build`.
 * Returns the binary path, or undefined when Go is missing or the build fails.
 */
export async function installFerretDb(onProgress?: (m: string) => void): Promise<string | undefined> {
  if (!findOnPath('go')) return undefined;
  const bin = goBinDir();
  if (!bin) return undefined;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ferretdb-build-'));
  try {
    const dl = await run('go', ['mod', 'download', '-json', `${FERRETDB_MODULE}@${FERRETDB_VERSION}`], work, onProgress);
    const dir = dl.ok ? (JSON.parse(dl.output) as { Dir?: string }).Dir : undefined;
    if (!dir) {
      onProgress?.(`go mod download failed: ${dl.output.trim().split('\n').slice(-3).join(' | ')}`);
      return undefined;
    }
    const src = path.join(work, 'src');
    fs.cpSync(dir, src, { recursive: true });
    for (const entry of fs.readdirSync(src, { recursive: true, withFileTypes: true })) {
      if (entry.isDirectory()) fs.chmodSync(path.join(entry.parentPath, entry.name), 0o755);
    }
    fs.chmodSync(src, 0o755);
    const versionDir = path.join(src, 'build', 'version');
    fs.writeFileSync(path.join(versionDir, 'version.txt'), `${FERRETDB_VERSION}\n`);
    fs.writeFileSync(path.join(versionDir, 'package.txt'), 'hl7-engine-devdb\n');
    fs.mkdirSync(bin, { recursive: true });
    const build = await run('go', ['build', '-trimpath', '-o', path.join(bin, 'ferretdb'), './cmd/ferretdb'], src, onProgress);
    if (!build.ok) {
      onProgress?.(`go build failed: ${build.output.trim().split('\n').slice(-3).join(' | ')}`);
      return undefined;
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return findFerretDb();
}
