/**
 * A counting semaphore: at most `limit` tasks run at once, the others wait in arrival order. Ingestion runs the
 * mapping and FHIR writes of each message through one, so a burst of messages does not turn into a burst of
 * concurrent writes on the same hot search-index keys (which makes every writer retry).
 */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  get queued(): number {
    return this.waiting.length;
  }
}
