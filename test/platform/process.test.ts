/**
 * The engine as a real process: bad configuration stops start-up with one clear line; SIGTERM drains an in-flight
 * request before the process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { expect } from 'chai';
import { freePort } from '../../src/platform/devdb/free-port.js';
import { databaseUri, tmpDir } from '../support/harness.js';

const root = path.resolve(import.meta.dirname, '..', '..');

function startProcess(env: Record<string, string>): { child: ChildProcess; stderr: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'main.ts')], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.resume();
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exit };
}

async function waitHealthy(url: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('engine did not become healthy');
}

describe('engine process', function () {
  this.timeout(60_000);

  for (const [name, value, expected] of [
    ['PORT', 'abc', 'Invalid configuration: PORT must be an integer, got "abc"'],
    ['MONGODB_URI', 'http://db:27017', 'Invalid configuration: MONGODB_URI must use mongodb: or mongodb+srv:, got http:'],
    ['LOG_LEVEL', 'loud', 'Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
    ['BODY_LIMIT', 'huge', 'Invalid configuration: BODY_LIMIT must be a size such as 10mb or 512kb, got "huge"'],
  ] as const) {
    it(`a bad ${name} stops start-up with one line naming it`, async () => {
      const p = startProcess({ [name]: value, DATA_DIR: path.join(tmpDir(), 'bad-env') });
      expect(await p.exit).to.equal(2);
      expect(p.stderr().trim()).to.equal(expected);
    });
  }

  it('SIGTERM stops accepting connections, finishes the in-flight request, then exits 0', async () => {
    const port = await freePort();
    const dataDir = path.join(tmpDir(), 'sigterm');
    fs.mkdirSync(dataDir, { recursive: true });
    const p = startProcess({ PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, MONGODB_URI: databaseUri(), MONGODB_DATABASE: 'sigterm_test' });
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(url);

    // An in-flight request: headers and half of the body sent, the rest still to come.
    const body = JSON.stringify({ note: 'x'.repeat(100) });
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    let response = '';
    socket.on('data', (d) => (response += d));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write(`POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body.slice(0, 20));
    await new Promise((r) => setTimeout(r, 200));

    p.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    // No new connections are accepted…
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(true));
    });
    expect(refused, 'new connection refused during shutdown').to.equal(true);
    // …but the in-flight request is answered in full.
    socket.write(body.slice(20));
    await closed;
    expect(response).to.match(/^HTTP\/1\.1 404 /);
    expect(response).to.match(/connection: close/i);
    expect(response).to.include('"type":"not_found"');
    expect(await p.exit).to.equal(0);
  });
});
