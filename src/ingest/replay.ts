/**
 * Replay: re-runs the CURRENT mapping (and checks, and schema validation) on stored raw messages and records the new
 * outcome as another run of the same message. Used by POST /api/messages/{id}/replay, the `messages.replay` job
 * (POST /api/messages/replay with a filter) and the CLI (`replay --from --to [--mapping-version]`).
 * Replays are idempotent (deterministic FHIR ids, conditional updates); an older message never overwrites what a
 * newer one wrote (source-message extension).
 */
import type { JobDefinition } from '../jobs/types.js';
import type { MappingRef, MappingSelection } from '../mapping/registry.js';
import type { SourceInfo } from './apply.js';
import type { MappingOutput } from '../mapping/output.js';
import { exclusiveAttempt } from './attempts.js';
import type { MessageDoc, MessageQuery, MessageSource, MessageStatus, MessageStore, Outcome } from './message-store.js';

/** A stored message run through the current checks and mapping, before anything is written. */
export type MappedMessage =
  | { kind: 'mapped'; output: MappingOutput; src: SourceInfo; mapping: MappingRef }
  | { kind: 'not_mapped'; outcome: Omit<Outcome, 'trigger'> };

export interface MessageProcessor {
  /** `given.selection`: the mapping versions to use instead of the current ones. */
  process(doc: MessageDoc, raw: Buffer, trigger: Outcome['trigger'], given?: { selection?: MappingSelection }): Promise<MessageDoc>;
  /** Checks and maps a stored message with the current mappings (or the versions `selection` names); writes nothing. */
  map(doc: MessageDoc, raw: Buffer, selection?: MappingSelection): Promise<MappedMessage>;
}

interface ReplaySummary {
  matched: number;
  processed: number;
  rejected: number;
  failed: number;
  /** Messages whose replay ended failed or rejected (ids only). */
  not_processed: { id: string; status: MessageStatus; code?: string }[];
}

export const REPLAY_MAX = 10_000;

export class ReplayService {
  constructor(
    private readonly store: MessageStore,
    private readonly processors: Record<MessageSource, MessageProcessor>,
    private readonly options: { leaseMs?: number } = {},
  ) {}

  /**
   * Replays one message. A replay that arrives while the same message is being processed (an ingest, a resend or
   * another replay) joins that run and answers with its outcome instead of processing the message a second time.
   */
  async replayOne(id: string, tenant: string, selection?: MappingSelection): Promise<MessageDoc | undefined> {
    const doc = await this.store.find(id, tenant);
    if (!doc) return undefined;
    return exclusiveAttempt(
      this.store,
      doc,
      async (current) => this.processors[current.source].process(current, await this.store.raw(current), 'replay', { selection }),
      { leaseMs: this.options.leaseMs },
    );
  }

  /** Replays every message matching `query`, oldest first (at most `limit`), a few at a time. */
  async replayMany(
    query: MessageQuery,
    opts: { limit?: number; concurrency?: number; selection?: MappingSelection; onProgress?: (done: number, total: number) => void | Promise<void> } = {},
  ): Promise<ReplaySummary> {
    const found = await this.store.idsWithTenant(query, Math.min(opts.limit ?? REPLAY_MAX, REPLAY_MAX));
    const ids = found.map((f) => f._id);
    const summary: ReplaySummary = { matched: ids.length, processed: 0, rejected: 0, failed: 0, not_processed: [] };
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < ids.length) {
        const { _id: id, tenant } = found[next++];
        let status: MessageStatus = 'failed';
        let code: string | undefined;
        try {
          const r = await this.replayOne(id, tenant, opts.selection);
          if (!r) continue; // deleted (retention) in between
          status = r.status;
          code = r.error?.code;
        } catch (err) {
          code = (err as Error).name;
        }
        if (status === 'processed') summary.processed++;
        else if (status === 'rejected') summary.rejected++;
        else summary.failed++;
        if (status !== 'processed' && summary.not_processed.length < 1000) summary.not_processed.push({ id, status, code });
        done++;
        await opts.onProgress?.(done, ids.length);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, 16)) }, worker));
    return summary;
  }
}

export const REPLAY_JOB = 'messages.replay';

export interface ReplayJobData {
  /** The tenant whose messages are replayed. */
  tenant: string;
  query: { source?: MessageSource; status?: MessageStatus; from?: string; to?: string; externalId?: string; mappingName?: string; mappingVersion?: string; ids?: string[] };
  limit: number;
  /** Mapping versions to use instead of the current ones (a list: mapping names hold dots, which field names must not). */
  useMappings?: { name: string; version: string }[];
}

/** The job's mapping versions as a selection (name → version). */
export function selectionOf(data: Pick<ReplayJobData, 'useMappings'>): MappingSelection | undefined {
  return data.useMappings ? Object.fromEntries(data.useMappings.map((m) => [m.name, m.version])) : undefined;
}

export function toQuery(q: ReplayJobData['query'], tenant: string | undefined): MessageQuery {
  return {
    tenant,
    source: q.source,
    status: q.status,
    from: q.from ? new Date(q.from) : undefined,
    to: q.to ? new Date(q.to) : undefined,
    externalId: q.externalId,
    mappingName: q.mappingName,
    mappingVersion: q.mappingVersion,
    ids: q.ids,
  };
}

/** The Agenda job behind POST /api/messages/replay. */
export const replayJob: JobDefinition<ReplayJobData, { ingest: { replay: Pick<ReplayService, 'replayMany'> } }> = {
  name: REPLAY_JOB,
  description: 'Replays stored inbound messages (current mappings) matching a filter',
  options: { concurrency: 1, maxAttempts: 1, lockLifetimeMs: 30 * 60_000 },
  create: (ctx) => async (data, job) => {
    let last = 0;
    // A job enqueued before tenancy has no tenant: it replays nothing rather than every tenant's messages.
    const summary = await ctx.ingest.replay.replayMany(toQuery(data.query, data.tenant ?? '\u0000none'), {
      limit: data.limit,
      selection: selectionOf(data),
      onProgress: async (done, total) => {
        const pct = Math.floor((done / Math.max(total, 1)) * 100);
        if (pct >= last + 5 || done === total) {
          last = pct;
          await job.progress(pct, `${done}/${total}`);
        }
      },
    });
    return { status_code: 200, response_data: summary };
  },
};
