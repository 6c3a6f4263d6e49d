/**
 * The job contract shared by every background task (care plan activities, termination, reports, …).
 * A job is a document in the `jobs` collection (what clients poll) executed by the engine's one Agenda instance.
 */

export type JobStatus = 'pending' | 'processing' | 'processed' | 'failed';

interface JobLink {
  entity: string;
  href: string;
}

/** What a handler returns when it succeeded. */
export interface JobOutcome {
  status_code: number;
  links?: JobLink[];
  response_data?: unknown;
}

export interface JobHandle {
  id: string;
  /** 1 on the first run, 2 on the first retry, … */
  attempt: number;
  progress(percent: number, message?: string): Promise<void>;
}

type JobHandler<D = unknown> = (data: D, job: JobHandle) => Promise<JobOutcome>;

interface JobOptions {
  /** Runs of this job at once per engine instance (default 5). */
  concurrency?: number;
  /** How long a run may hold its lock before another instance takes it over (default 10 min). */
  lockLifetimeMs?: number;
  /** Runs in total before the job is failed (default 3). */
  maxAttempts?: number;
  /** First retry delay; doubles per retry (default 1000 ms). */
  backoffMs?: number;
  /**
   * Run a new job in the engine that enqueued it, right away, while it runs fewer than `concurrency` of them; the
   * queue keeps a run scheduled after the lock lifetime as the durable fallback (default false: the queue runs it).
   */
  runAtOnce?: boolean;
}

/**
 * A kind of job. `C`: what its handler is built from (the engine passes its services; a definition declares only the
 * part it uses, so this module knows no concern).
 */
export interface JobDefinition<D = unknown, C = unknown> {
  name: string;
  /** Short description shown to operators. */
  description: string;
  options?: JobOptions;
  create(ctx: C): JobHandler<D>;
}

/**
 * A business failure: the job ends `failed` with this status code and error body, without retries.
 * (Any other thrown error is treated as transient and retried with backoff.)
 */
export class JobFailure extends Error {
  constructor(
    public readonly status_code: number,
    public readonly error: unknown,
  ) {
    super(typeof error === 'object' && error && 'message' in error ? String((error as { message: unknown }).message) : String(error));
    this.name = 'JobFailure';
  }
}

/** Who asked for the job: used to keep one legal entity's jobs from another's. */
export interface JobOwner {
  userId?: string;
  clientId?: string;
}

export interface JobDocument {
  _id: import('mongodb').ObjectId;
  name: string;
  hash?: string;
  data: unknown;
  owner?: JobOwner;
  status: JobStatus;
  status_code: number;
  eta: Date;
  attempts: number;
  max_attempts: number;
  /** How many times an operator re-ran the job after it failed (0 for the first run). */
  run?: number;
  progress?: { percent: number; message?: string };
  response?: { links?: JobLink[]; response_data?: unknown };
  error?: unknown;
  last_error?: string;
  inserted_at: Date;
  updated_at: Date;
  started_at?: Date;
  finished_at?: Date;
}
