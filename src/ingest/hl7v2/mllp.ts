/**
 * The MLLP listener (HL7 v2 over TCP, optionally TLS): frames are `0x0B <message> 0x1C 0x0D`.
 *
 *   - many messages per connection, answered in the order they came (one at a time per connection, so an ADT
 *     stream keeps its order); a frame may arrive in any number of TCP packets, several frames in one;
 *   - every complete frame gets an answer before the engine closes the connection: its ACK(s), or AR when the frame
 *     was over HL7V2_MLLP_MAX_FRAME_BYTES (the rest of such a frame is read and dropped, nothing is stored) or
 *     processing failed unexpectedly;
 *   - enhanced mode: the commit ACK (CA) is written as soon as the message is stored, the application ACK after it;
 *   - bytes between frames are ignored; a connection idle for HL7V2_MLLP_IDLE_TIMEOUT_S with nothing left to
 *     answer is closed; at most HL7V2_MLLP_MAX_CONNECTIONS connections at once.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { log } from '../../platform/logging/logger.js';
import { buildAck, EMPTY_ORIGINAL } from './ack.js';
import { readHeader } from '../../lib/er7.js';
import { ackBytes, type Hl7Answer, type Hl7Transport } from './service.js';

const START = 0x0b;
const END = 0x1c;
const CR = 0x0d;

interface MllpOptions {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string };
  maxFrameBytes: number;
  idleTimeoutMs: number;
  maxConnections: number;
}

/** What the listener needs of the HL7 v2 service. */
interface Hl7Receiver {
  receive(bytes: Buffer, transport: Hl7Transport, onCommit?: (ack: string) => void): Promise<Hl7Answer>;
}

function frame(bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([START]), bytes, Buffer.from([END, CR])]);
}

type Work = { kind: 'message'; bytes: Buffer } | { kind: 'too_large'; head: Buffer; size: number };

/** One connection: splits frames and answers them in order. */
class MllpConnection {
  private chunks: Buffer[] = [];
  private size = 0;
  private inFrame = false;
  /** Past the frame limit: the rest of the frame is dropped; its head is kept to address the AR. */
  private discarding: { head: Buffer; size: number } | undefined;
  /** The previous chunk ended with 0x1C: a 0x0D at the start of the next ends the frame. */
  private pendingEnd = false;
  private readonly queue: Work[] = [];
  private working = false;
  private ended = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly receiver: Hl7Receiver,
    private readonly options: MllpOptions,
    private readonly onClose: () => void,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(options.idleTimeoutMs, () => {
      if (!this.working && this.queue.length === 0) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('end', () => {
      this.ended = true;
      this.finishIfDone();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.onClose());
  }

  get busy(): boolean {
    return this.working || this.queue.length > 0;
  }

  /** Closes the connection once every frame received so far is answered. */
  endWhenDone(): void {
    this.ended = true;
    this.finishIfDone();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private finishIfDone(): void {
    if (this.ended && !this.busy) this.socket.end();
  }

  private read(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (!this.inFrame) {
        const s = chunk.indexOf(START, i);
        if (s < 0) return; // bytes between frames are ignored
        this.inFrame = true;
        this.pendingEnd = false;
        i = s + 1;
        continue;
      }
      if (this.pendingEnd) {
        this.pendingEnd = false;
        if (chunk[i] === CR) {
          this.complete();
          i += 1;
          continue;
        }
        this.append(Buffer.from([END]));
      }
      let e = chunk.indexOf(END, i);
      while (e >= 0 && e + 1 < chunk.length && chunk[e + 1] !== CR) e = chunk.indexOf(END, e + 1);
      if (e < 0) {
        this.append(chunk.subarray(i));
        return;
      }
      this.append(chunk.subarray(i, e));
      if (e + 1 >= chunk.length) {
        this.pendingEnd = true;
        return;
      }
      this.complete();
      i = e + 2;
    }
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    if (this.discarding) {
      this.discarding.size += part.length;
      return;
    }
    this.chunks.push(part);
    this.size += part.length;
    if (this.size > this.options.maxFrameBytes) {
      const all = Buffer.concat(this.chunks);
      this.discarding = { head: Buffer.from(all.subarray(0, 4096)), size: all.length };
      this.chunks = [];
      this.size = 0;
    }
  }

  private complete(): void {
    this.inFrame = false;
    if (this.discarding) {
      this.queue.push({ kind: 'too_large', ...this.discarding });
      this.discarding = undefined;
    } else {
      this.queue.push({ kind: 'message', bytes: this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks) });
      this.chunks = [];
      this.size = 0;
    }
    void this.work();
  }

  private send(ack: string, characterSet: string): void {
    if (!this.socket.destroyed) this.socket.write(frame(ackBytes(ack, characterSet)));
  }

  private async work(): Promise<void> {
    if (this.working) return;
    this.working = true;
    try {
      for (let w = this.queue.shift(); w; w = this.queue.shift()) {
        if (w.kind === 'too_large') {
          const h = readHeader(w.head);
          const text = `The frame exceeds the limit of ${this.options.maxFrameBytes} bytes; it was not stored`;
          this.send(buildAck(h ?? EMPTY_ORIGINAL, h && (h.acceptAckType || h.applicationAckType) ? 'CR' : 'AR', [{ code: '207', text }]).text, h?.characterSet ?? '');
          log().warn({ bytes: w.size }, 'mllp frame over the limit');
          continue;
        }
        const bytes = w.bytes;
        try {
          const answer = await this.receiver.receive(bytes, { kind: 'mllp' }, (ca) => this.send(ca, readHeader(bytes)?.characterSet ?? ''));
          for (const ack of answer.acks) this.send(ack, answer.characterSet);
        } catch (err) {
          const h = readHeader(bytes);
          log().error({ err: { message: (err as Error).message } }, 'mllp message could not be handled');
          this.send(buildAck(h ?? EMPTY_ORIGINAL, 'AR', [{ code: '207', text: 'The message could not be handled; send it again later' }]).text, h?.characterSet ?? '');
        }
      }
    } finally {
      this.working = false;
      this.finishIfDone();
    }
  }
}

export class MllpServer {
  private readonly server: net.Server;
  private readonly connections = new Set<MllpConnection>();

  constructor(
    private readonly receiver: Hl7Receiver,
    private readonly options: MllpOptions,
  ) {
    const onSocket = (socket: net.Socket) => {
      const c: MllpConnection = new MllpConnection(socket, this.receiver, this.options, () => this.connections.delete(c));
      this.connections.add(c);
    };
    // Half-open: a sender that closes its side after its last frame still gets the answers to every frame it sent.
    this.server = options.tls
      ? tls.createServer({ cert: fs.readFileSync(options.tls.certFile), key: fs.readFileSync(options.tls.keyFile), allowHalfOpen: true }, onSocket)
      : net.createServer({ allowHalfOpen: true }, onSocket);
    this.server.maxConnections = options.maxConnections;
    this.server.on('tlsClientError', () => {});
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => resolve());
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Stops accepting; every connection is closed once its received frames are answered (bounded by `timeoutMs`). */
  async close(timeoutMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.endWhenDone();
    const timer = setTimeout(() => {
      for (const c of this.connections) c.destroy();
    }, timeoutMs);
    await closed;
    clearTimeout(timer);
  }
}
