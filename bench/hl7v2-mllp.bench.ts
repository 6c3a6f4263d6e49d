/**
 * HL7 v2 over MLLP end to end: 32 connections, each sending ADT^A04 messages one after another (the next when the
 * ACK of the last arrived, as MLLP senders do) for BENCH_DURATION_S. Every message carries its own control id
 * (MSH-10), visit number and one of 500 patients, so each one is stored, analysed in the worker pool, mapped and
 * written to FHIR (Patient, Encounter). The engine runs in its own process (see support.ts). Reports messages/s
 * (ACKs with AA), ACK latency percentiles and the engine process's CPU milliseconds per message.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/platform/devdb/free-port.js';
import { validFnrs } from '../test/support/person-numbers.js';
import { durationSeconds, startBenchEngine, BENCH_TENANT } from './support.js';

export const title = 'HL7 v2 over MLLP: ADT^A04 end to end, 32 connections, distinct control ids (ACK AA)';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SAMPLE = path.join(root, 'mappings', 'hl7v2-v1', 'examples', 'adt-a04.hl7');
const CONNECTIONS = 32;

/** One MLLP connection that sends a message and waits for its ACK. */
class Sender {
  private buffer = Buffer.alloc(0);
  private waiting: ((ack: string) => void) | undefined;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      const e = this.buffer.indexOf(Buffer.from([0x1c, 0x0d]));
      if (e < 0) return;
      const ack = this.buffer.subarray(this.buffer.indexOf(0x0b) + 1, e).toString('utf8');
      this.buffer = this.buffer.subarray(e + 2);
      const w = this.waiting;
      this.waiting = undefined;
      w?.(ack);
    });
  }

  static async open(port: number): Promise<Sender> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.setNoDelay(true);
    return new Sender(socket);
  }

  exchange(message: string): Promise<string> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(message, 'utf8'), Buffer.from([0x1c, 0x0d])]));
    });
  }

  close(): void {
    this.socket.end();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(1));
}

export async function run(): Promise<Record<string, unknown>> {
  const template = fs.readFileSync(SAMPLE, 'utf8');
  const patients = validFnrs(500);
  let n = 0;
  const message = () => {
    const i = n++;
    return template
      .replace('MSG-A04-1', `BENCH-${i}`)
      .replace('41017010164^^^NOR^DNR', `${patients[i % patients.length]}^^^NOR^FNR`)
      .replace('V200^^^OUS^VN', `BV${i}^^^OUS^VN`);
  };
  const mllpPort = await freePort();
  const engine = await startBenchEngine({
    TENANTS: JSON.stringify([{ id: BENCH_TENANT, hl7v2_receiving_facilities: ['HOSP-A'] }]),
    HL7V2_MLLP_PORT: String(mllpPort),
    HL7V2_MLLP_HOST: '127.0.0.1',
  });
  try {
    const senders = await Promise.all(Array.from({ length: CONNECTIONS }, () => Sender.open(mllpPort)));
    // Warm-up: worker threads, mapping, FHIR definitions.
    for (let i = 0; i < 20; i++) {
      const ack = await senders[0].exchange(message());
      if (!/\rMSA\|AA\|/.test(ack)) throw new Error(`warm-up: not AA: ${ack.replace(/\r/g, '\n').slice(0, 400)}`);
    }
    const cpuBefore = await engine.cpuSeconds();
    const latencies: number[] = [];
    let aa = 0;
    let other = 0;
    const started = performance.now();
    const until = started + durationSeconds * 1000;
    await Promise.all(
      senders.map(async (s) => {
        while (performance.now() < until) {
          const t = performance.now();
          const ack = await s.exchange(message());
          latencies.push(performance.now() - t);
          if (/\rMSA\|AA\|/.test(ack)) aa++;
          else other++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = await engine.cpuSeconds();
    senders.forEach((s) => s.close());
    latencies.sort((a, b) => a - b);
    const meanMs = latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length);
    const messagesPerSecond = Math.round(aa / seconds);
    return {
      messagesPerSecond,
      connections: CONNECTIONS,
      acksAA: aa,
      acksOther: other,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      meanMs: Number(meanMs.toFixed(1)),
      // Little's law as in the other benchmarks: throughput × mean latency ÷ connections, ≈ 1 when every connection
      // always has a message in flight and each latency was timed right.
      littlesLaw: Number((((aa + other) / seconds) * (meanMs / 1000) / CONNECTIONS).toFixed(2)),
      engineCpuMsPerMessage: Number((((cpuAfter - cpuBefore) * 1000) / Math.max(1, aa + other)).toFixed(2)),
    };
  } finally {
    await engine.stop();
  }
}
