/** A Server-Sent Events client for tests: reads a stream over fetch and keeps what arrived (events and comments). */
import { expect } from 'chai';

export interface SseEvent {
  id?: string;
  event?: string;
  data: any;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  private readonly abort = new AbortController();
  private ended = false;
  status = 0;
  headers = new Headers();
  /** The error body of a refused stream. */
  error: any;

  /** Opens `url` with a bearer token (and Last-Event-ID); a refusal is returned with its status and body in `error`. */
  static async open(url: string, token: string, lastEventId?: string): Promise<SseClient> {
    const client = new SseClient();
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...(lastEventId !== undefined ? { 'last-event-id': lastEventId } : {}) },
      signal: client.abort.signal,
    });
    client.status = res.status;
    client.headers = res.headers;
    if (res.status !== 200) {
      client.error = JSON.parse(await res.text());
      client.ended = true;
      return client;
    }
    void client.read(res.body!);
    return client;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const ev: Partial<SseEvent> = {};
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) ev.id = line.slice(4);
            else if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length) this.events.push({ ...ev, data: JSON.parse(data.join('\n')) });
        }
      }
    } catch {
      /* aborted */
    } finally {
      this.ended = true;
    }
  }

  /** Waits until `n` events arrived (fails after `ms`). */
  async waitForEvents(n: number, ms = 10_000): Promise<SseEvent[]> {
    await this.waitUntil(() => this.events.length >= n, ms, () => `${n} events, got ${this.events.length}: ${JSON.stringify(this.events.map((e) => e.data.action))}`);
    return this.events;
  }

  async waitUntil(cond: () => boolean, ms: number, what: () => string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      expect(Date.now() < deadline, `timed out waiting for ${what()}`).to.equal(true);
      expect(this.ended, `stream ended while waiting for ${what()}`).to.equal(false);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.abort.abort();
  }
}
