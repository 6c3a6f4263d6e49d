/**
 * Every background job the engine runs, registered in one place (with its concurrency, lock lifetime, retries and
 * backoff in its own definition). Add a definition here to make it runnable.
 */
import { insurerReportJob } from '../consultations/report-job.js';
import { replayJob } from '../ingest/replay.js';
import { previewJob } from '../ingest/preview-job.js';
import { createActivityJob } from '../careplans/activity-job.js';
import { terminateSupersededJob } from '../careplans/termination-job.js';
import type { JobDefinition } from '../jobs/types.js';

export const jobDefinitions: JobDefinition<any>[] = [createActivityJob, terminateSupersededJob, insurerReportJob, replayJob, previewJob];
