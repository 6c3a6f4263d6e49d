/**
 * Helpers of the HL7 v2 tests: an MLLP client over a real socket, message building, ACK reading, the examples of the
 * mapping (mappings/hl7v2-v1/examples).
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { DEFAULT_MAPPINGS_DIR } from '../../../src/mapping/registry.js';

export const EXAMPLES = path.join(DEFAULT_MAPPINGS_DIR, 'hl7v2-v1', 'examples');

export function example(name: string): Buffer {
  return fs.readFileSync(path.join(EXAMPLES, name));
}

/** An example with another control id (MSH-10) and optionally other replacements (in its own character set). */
export function variant(name: string, controlId: string, replace: [string, string][] = []): Buffer {
  const latin1 = /\|8859\/1\r/.test(example(name).toString('latin1'));
  let t = example(name).toString(latin1 ? 'latin1' : 'utf8');
  t = t.replace(/^(MSH(?:\|[^|\r]*){8}\|)[^|\r]*/, `$1${controlId}`);
  for (const [a, b] of replace) {
    if (!t.includes(a)) throw new Error(`variant(${name}): "${a}" not found`);
    t = t.replace(a, b);
  }
  return Buffer.from(t, latin1 ? 'latin1' : 'utf8');
}

export interface Ack {
  text: string;
  code: string;
  /** MSA-2. */
  controlId: string;
  /** MSA-3. */
  message: string;
  /** ERR segments: [location, code, text]. */
  errors: { location: string; code: string; text: string }[];
}

export function parseAck(text: string): Ack {
  const segs = text.split('\r').filter(Boolean).map((s) => s.split('|'));
  const msa = segs.find((s) => s[0] === 'MSA') ?? [];
  return {
    text,
    code: msa[1] ?? '',
    controlId: msa[2] ?? '',
    message: msa[3] ?? '',
    errors: segs.filter((s) => s[0] === 'ERR').map((s) => ({ location: s[2] ?? '', code: (s[3] ?? '').split('^')[0], text: s[8] ?? '' })),
  };
}

/** An MLLP connection that collects the frames the engine sends. */
export class MllpClient {
  private buffer = Buffer.alloc(0);
  private readonly frames: Buffer[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      for (;;) {
        const s = this.buffer.indexOf(0x0b);
        const e = this.buffer.indexOf(Buffer.from([0x1c, 0x0d]));
        if (s < 0 || e < 0) break;
        this.frames.push(this.buffer.subarray(s + 1, e));
        this.buffer = this.buffer.subarray(e + 2);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  /** `ca`: MLLP over TLS, trusting this certificate (PEM). */
  static async connect(port: number, ca?: string): Promise<MllpClient> {
    const socket = ca ? tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost' }) : net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once(ca ? 'secureConnect' : 'connect', resolve);
      socket.once('error', reject);
    });
    return new MllpClient(socket);
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Sends one message framed. */
  send(message: Buffer | string): void {
    const body = typeof message === 'string' ? Buffer.from(message) : message;
    this.write(Buffer.concat([Buffer.from([0x0b]), body, Buffer.from([0x1c, 0x0d])]));
  }

  /** The next frame the engine sent, as text in `encoding` (waits up to `timeoutMs`). */
  async next(timeoutMs = 60_000, encoding: BufferEncoding = 'utf8'): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed) throw new Error('connection closed without an answer');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no answer in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.frames.shift()!.toString(encoding);
  }

  async nextAck(timeoutMs?: number): Promise<Ack> {
    return parseAck(await this.next(timeoutMs));
  }

  close(): void {
    this.socket.end();
  }
}

/** Sends one message on a fresh connection and returns its ACK. */
export async function mllpExchange(port: number, message: Buffer | string): Promise<Ack> {
  const c = await MllpClient.connect(port);
  try {
    c.send(message);
    return await c.nextAck();
  } finally {
    c.close();
  }
}
