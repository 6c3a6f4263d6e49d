/**
 * The dry run as a job (POST /api/messages/replay/preview): previews every matching message of the caller's tenant
 * with the current mappings or the versions the request names, keeps the whole report in media storage
 * (`replay-previews/<job id>.json`, downloadable at GET /api/messages/replay/previews/{job id}) and answers a summary.
 * Replaying the same filters with the same versions (POST /api/messages/replay) writes what the report shows, as long
 * as no other message changes the same resources in between.
 */
import type { JobDefinition } from '../jobs/types.js';
import type { MappingSelection } from '../mapping/registry.js';
import type { MediaStorage } from '../platform/storage/media-storage.js';
import type { MessagePreview, PreviewService } from './preview.js';
import { selectionOf, toQuery, type ReplayJobData } from './replay.js';

export const REPLAY_PREVIEW_JOB = 'messages.replay_preview';

export const previewReportKey = (jobId: string): string => `replay-previews/${jobId}.json`;
const previewReportHref = (jobId: string): string => `/api/messages/replay/previews/${jobId}`;

export interface PreviewSummary {
  messages: number;
  /** Messages whose replay would create or change at least one FHIR resource. */
  changed: number;
  unchanged: number;
  /** Messages the replay would record as rejected or failed. */
  not_processed: number;
}

interface PreviewReport {
  job_id: string;
  tenant: string;
  created_at: string;
  query: ReplayJobData['query'];
  selection: MappingSelection;
  summary: PreviewSummary;
  messages: MessagePreview[];
}

export function countPreview(summary: PreviewSummary, p: MessagePreview): void {
  summary.messages++;
  if (p.outcome !== 'processed') summary.not_processed++;
  else if (p.resources.some((r) => r.change !== 'unchanged')) summary.changed++;
  else summary.unchanged++;
}

export const previewJob: JobDefinition<ReplayJobData, { ingest: { preview: Pick<PreviewService, 'previewMany'> }; media: MediaStorage }> = {
  name: REPLAY_PREVIEW_JOB,
  description: 'Previews a replay of stored inbound messages (what each FHIR resource would become), writing nothing but its report',
  options: { concurrency: 1, maxAttempts: 1, lockLifetimeMs: 30 * 60_000 },
  create: (ctx) => async (data, job) => {
    const summary: PreviewSummary = { messages: 0, changed: 0, unchanged: 0, not_processed: 0 };
    const messages: MessagePreview[] = [];
    const selection = selectionOf(data);
    for await (const p of ctx.ingest.preview.previewMany(toQuery(data.query, data.tenant), data.limit, selection)) {
      countPreview(summary, p);
      messages.push(p);
      if (messages.length % 50 === 0) await job.progress(Math.floor((messages.length / Math.max(data.limit, 1)) * 100), `${messages.length}`);
    }
    const report: PreviewReport = { job_id: job.id, tenant: data.tenant, created_at: new Date().toISOString(), query: data.query, selection: selection ?? {}, summary, messages };
    await ctx.media.put(previewReportKey(job.id), Buffer.from(JSON.stringify(report)), 'application/json');
    return { status_code: 200, links: [{ entity: 'replay_preview', href: previewReportHref(job.id) }], response_data: summary };
  },
};
