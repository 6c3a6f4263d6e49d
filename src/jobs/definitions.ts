/**
 * Every background job the engine runs, registered in one place (with its concurrency, lock lifetime, retries and
 * backoff in its own definition). Add a definition here to make it runnable.
 */
import { insurerReportJob } from '../consultations/report-job.js';
import { replayJob } from '../messages/replay.js';
import type { JobDefinition } from './types.js';

export const jobDefinitions: JobDefinition<any>[] = [insurerReportJob, replayJob];
