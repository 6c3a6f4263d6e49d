/**
 * A pool of worker threads (piscina) for the CPU-bound part of HL7 v2 processing (analyse.ts): decoding, parsing,
 * mapping and FHIR validation stay off the event loop, which keeps serving MLLP connections and HTTP requests.
 *
 * Each message gets a time budget measured from the moment a thread starts on it; past it (or past the thread's
 * heap limit) the thread is replaced and the message is rejected (AR, 207). Threads as for henvisning
 * (INGEST_WORKER_THREADS, INGEST_TIME_BUDGET_MS, INGEST_WORKER_MAX_HEAP_MB).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { PoolOptions } from '../henvisning/pool.js';
import type { MappingSelection } from '../../mapping/registry.js';
import type { Hl7Analysis, Hl7AnalyseSettings, Hl7TenantScope } from './analyse.js';

function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), path.extname(here) === '.ts' ? 'analysis-worker-tsx.mjs' : 'analysis-worker.js');
}

export class Hl7AnalysisPool {
  private readonly pool: Piscina;

  constructor(
    settings: Hl7AnalyseSettings,
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

  async analyse(bytes: Buffer, scope: Hl7TenantScope, selection: MappingSelection): Promise<Hl7Analysis> {
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
      return (await this.pool.run({ bytes: copy, scope, selection, port: port2 }, { transferList: [port2, copy.buffer], signal: abort.signal })) as Hl7Analysis;
    } catch (err) {
      const limit = abort.signal.aborted
        ? `Processing the message took longer than the limit of ${this.options.timeBudgetMs} ms`
        : (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `Processing the message needed more than the limit of ${this.options.maxHeapMb} MB of memory`
          : undefined;
      if (!limit) throw err;
      return { kind: 'rejected', code: 'AR', problems: [{ code: '207', text: limit }], facts: {} };
    } finally {
      if (timer) clearTimeout(timer);
      port1.close();
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
