/**
 * The live queue as Server-Sent Events: one tenant's consultation events (events.ts) in order, from a position.
 *
 *   id: <seq>                 the event's number; a client resumes after it (Last-Event-ID)
 *   event: consultation
 *   data: {"seq":…,"action":"pick","at":…,"consultation":{…ids, state, times…}}
 *
 * A comment line (`: heartbeat`) is written when nothing else was for the heartbeat interval, so proxies and clients
 * see a live connection. The stream reads events by number: those this process writes wake it at once, those of
 * other engine processes are found by polling. It ends when the client goes away or the engine shuts down.
 */
import type { Request, Response } from 'express';
import { log } from '../platform/logging/logger.js';
import { eventView, type ConsultationEvent } from './events.js';

/** What the stream reads (ConsultationEventLog). */
interface EventReader {
  latest(tenant: string): Promise<number>;
  get(tenant: string, seq: number): Promise<ConsultationEvent | null>;
  wait(tenant: string, ms: number): { done: Promise<void>; cancel(): void };
}

interface StreamOptions {
  heartbeatMs: number;
  pollMs: number;
  stopping: () => boolean;
}

/** Streams open in this process, bounded (each polls the database). */
const MAX_STREAMS = 500;
let open = 0;

export function streamsAvailable(): boolean {
  return open < MAX_STREAMS;
}

/**
 * The position to resume after: the Last-Event-ID header (a reconnecting EventSource sends it), else the `after`
 * query parameter, else the current end (only new events); `invalid` names what is wrong with a bad position.
 */
export async function startPosition(req: Request, events: EventReader, tenant: string): Promise<{ after: number } | { invalid: string }> {
  const header = req.headers['last-event-id'];
  const raw = typeof header === 'string' && header.trim() !== '' ? header.trim() : typeof req.query.after === 'string' ? req.query.after.trim() : undefined;
  const latest = await events.latest(tenant);
  if (raw === undefined) return { after: latest };
  if (!/^\d{1,15}$/.test(raw)) return { invalid: 'must be the number of an event (the id of the last event received)' };
  const after = Number(raw);
  if (after > latest) return { invalid: `is ahead of the stream: the last event is ${latest}` };
  return { after };
}

export async function streamEvents(req: Request, res: Response, events: EventReader, tenant: string, after: number, opts: StreamOptions): Promise<void> {
  open++;
  let closed = false;
  let pending: { cancel(): void } | undefined;
  const onClose = () => {
    closed = true;
    pending?.cancel();
  };
  req.on('close', onClose);
  res.on('close', onClose);
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  // The connection serves this stream only: closed when it ends, so a shutting-down engine is not kept waiting.
  res.setHeader('Connection', 'close');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
  let lastWrite = Date.now();
  const write = async (chunk: string) => {
    lastWrite = Date.now();
    if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve).once('close', resolve));
  };
  try {
    await write(`retry: 3000\n: consultation events after ${after}\n\n`);
    let next = after + 1;
    while (!closed && !opts.stopping()) {
      const ev = await events.get(tenant, next);
      if (ev) {
        await write(`id: ${ev.seq}\nevent: consultation\ndata: ${JSON.stringify(eventView(ev))}\n\n`);
        next++;
        continue;
      }
      if (Date.now() - lastWrite >= opts.heartbeatMs) await write(`: heartbeat ${new Date().toISOString()}\n\n`);
      const w = events.wait(tenant, Math.min(opts.pollMs, Math.max(1, opts.heartbeatMs - (Date.now() - lastWrite))));
      pending = w;
      await w.done;
      pending = undefined;
    }
  } catch (err) {
    // The client reconnects and resumes from its last event.
    log().warn({ err: { message: (err as Error).message } }, 'consultation event stream ended by an error');
  } finally {
    open--;
    req.off('close', onClose);
    res.off('close', onClose);
    if (!res.writableEnded) res.end();
  }
}
