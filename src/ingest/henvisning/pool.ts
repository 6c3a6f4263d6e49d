/**
 * A pool of worker threads (piscina) for the CPU-bound part of henvisning processing (analyse.ts): decoding,
 * parsing, XSD validation, mapping and FHIR validation of a 10 MB message take up to seconds of CPU; on the event
 * loop they would stall every other request (/healthz included) for that long.
 *
 * Each message gets a time budget measured from the moment a thread starts on it: past the budget the thread is
 * terminated (piscina replaces it) and the message is rejected (T99). A thread that runs out of heap
 * (maxHeapMb) is treated the same way. The worker entry is `analysis-worker.js` in dist/; from the sources (tests,
 * `npm run dev`) it is `analysis-worker-tsx.mjs`, which registers tsx's loader in the thread (threads do not inherit
 * it) and then imports `analysis-worker.ts`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { envelopeFromBytes, type Analysis, type AnalyseSettings, type TenantScope } from './analyse.js';
import type { MappingSelection } from '../../mapping/registry.js';

export interface PoolOptions {
  /** Worker threads (INGEST_WORKER_THREADS). */
  threads: number;
  /** Milliseconds a thread may work on one message (INGEST_TIME_BUDGET_MS). */
  timeBudgetMs: number;
  /** Old-generation heap of one thread in MB (INGEST_WORKER_MAX_HEAP_MB). */
  maxHeapMb: number;
}

/** analysis-worker.js next to the compiled pool; from the sources, the bootstrap that registers tsx first. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), path.extname(here) === '.ts' ? 'analysis-worker-tsx.mjs' : 'analysis-worker.js');
}

export class AnalysisPool {
  private readonly pool: Piscina;

  constructor(
    settings: AnalyseSettings,
    private readonly options: PoolOptions,
  ) {
    this.pool = new Piscina({
      filename: workerFile(),
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: settings,
      resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb },
    });
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  get queued(): number {
    return this.pool.queueSize;
  }

  /** Analyses one message in a thread; a message over its time budget or heap limit is rejected with T99. */
  async analyse(bytes: Buffer, tenant: TenantScope, selection: MappingSelection): Promise<Analysis> {
    const { port1, port2 } = new MessageChannel();
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    port1.once('message', () => {
      timer = setTimeout(() => abort.abort(), this.options.timeBudgetMs);
      port1.close();
    });
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    try {
      return (await this.pool.run({ bytes: copy, tenant, selection, port: port2 }, { transferList: [port2, copy.buffer], signal: abort.signal })) as Analysis;
    } catch (err) {
      const env = envelopeFromBytes(bytes);
      if (abort.signal.aborted) {
        const message = `Processing the message took longer than the limit of ${this.options.timeBudgetMs} ms`;
        return { kind: 'rejected', env, errors: [{ code: 'T99', detail: message }], message };
      }
      if ((err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        const message = `Processing the message needed more than the limit of ${this.options.maxHeapMb} MB of memory`;
        return { kind: 'rejected', env, errors: [{ code: 'T99', detail: message }], message };
      }
      throw err;
    } finally {
      if (timer) clearTimeout(timer);
      port1.close();
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
