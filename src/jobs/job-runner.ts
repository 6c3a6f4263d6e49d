/**
 * The engine's one Agenda instance and the `jobs` collection clients poll.
 *
 * - `enqueue` writes a job document (status pending) and schedules an Agenda run for it; a request hash makes
 *   identical requests share the pending job (a `job_hashes` document keyed by name+hash guards the race).
 * - The Agenda processor marks the job processing, runs the handler and records the outcome. A `JobFailure` ends the
 *   job failed at once; any other error is retried with exponential backoff until `maxAttempts`, then the job is
 *   failed with status_code 500. A run whose worker died is taken over when its Agenda lock expires, and the handler
 *   runs again (handlers are idempotent).
 * - Recurring jobs (`every`) create one job document per run, so every run is visible in the jobs API.
 * - A job whose definition asks for it (`runAtOnce`) runs in the enqueuing engine right away when that engine has
 *   capacity, without waiting for a queue poll. Its Agenda run is then scheduled after the lock lifetime: the
 *   durable fallback, which finds the job finished (and is removed with it) unless the engine died meanwhile. The
 *   attempt is claimed by the same unique insert as a queued run, so it runs once either way.
 */
import { Agenda, InMemoryNotificationChannel, exponential, type Job } from 'agenda';
import { MongoBackend } from '@agendajs/mongo-backend';
import { ObjectId, type Collection, type Db, type Filter } from 'mongodb';
import { claim } from '../platform/db/claims.js';
import { isDuplicateKey, type CollectionSpec } from '../platform/db/mongo.js';
import { log, maskPersonalData } from '../platform/logging/logger.js';
import { jobQueueDepth, jobRuns } from '../platform/metrics/registry.js';
import { JobFailure, type JobDefinition, type JobDocument, type JobHandle, type JobOwner, type JobStatus } from './types.js';

export const AGENDA_COLLECTION = 'agendaJobs';

/** Thrown out of an Agenda run whose job failed for good; its message is the reason Agendash shows. */
class FailedForGood extends Error {}

export const jobCollections: CollectionSpec[] = [
  {
    name: 'jobs',
    indexes: [
      { key: { updated_at: 1, status: 1 }, name: 'autodeletion_idx' },
      { key: { name: 1, inserted_at: -1 }, name: 'name_inserted' },
      { key: { status: 1, inserted_at: -1 }, name: 'status_inserted' },
      { key: { 'owner.clientId': 1, inserted_at: -1 }, name: 'owner_inserted' },
    ],
  },
  { name: 'job_hashes', indexes: [] },
  { name: AGENDA_COLLECTION, indexes: [{ key: { 'data.jobId': 1 }, name: 'data_jobId' }] },
];

/** Error bodies and responses stored on a job are capped at 10 000 bytes of JSON, as in eHealth's Medical Events service. */
export function capStored(value: unknown, maxBytes = 10_000): unknown {
  const size = (v: unknown) => Buffer.byteLength(JSON.stringify(v) ?? '');
  if (size(value) <= maxBytes) return value;
  if (typeof value === 'string') return `${value.slice(0, maxBytes - 3)}...`;
  const v = structuredClone(value) as { invalid?: { rules?: { params?: unknown }[] }[] };
  if (Array.isArray(v?.invalid)) {
    for (const entry of v.invalid) for (const rule of entry.rules ?? []) delete rule.params;
    while (size(v) > maxBytes && v.invalid.length > 1) v.invalid.pop();
    if (size(v) <= maxBytes) return v;
  }
  return { type: 'internal_error', message: 'Response too large to store' };
}

export interface JobRunnerOptions {
  processEveryMs: number;
  etaSeconds: number;
  lockLifetimeMs: number;
}

export interface EnqueueOptions {
  hash?: string;
  owner?: JobOwner;
}

export interface JobListFilter {
  name?: string;
  status?: JobStatus;
  from?: Date;
  to?: Date;
  /** Only the jobs this requester may see (its owner's; `system`: also the ownerless ones). Undefined: all. */
  viewer?: { owner: { clientId?: string; userId: string }; system: boolean };
  limit: number;
  offset: number;
}

/**
 * The jobs a requester may see: those of its legal entity; a token without a legal entity sees only the jobs it
 * asked for itself that belong to no legal entity. Jobs of nobody (recurring runs) are for admins only.
 */
export function ownerFilter(owner: { clientId?: string; userId: string }): Filter<JobDocument> {
  return owner.clientId ? { 'owner.clientId': owner.clientId } : { 'owner.userId': owner.userId, 'owner.clientId': null };
}

export function ownedBy(job: JobDocument, owner: { clientId?: string; userId: string }): boolean {
  if (owner.clientId) return job.owner?.clientId === owner.clientId;
  return job.owner?.clientId == null && job.owner?.userId != null && job.owner.userId === owner.userId;
}

export class JobRunner {
  readonly agenda: Agenda;
  readonly jobs: Collection<JobDocument>;
  private readonly hashes: Collection<{ _id: string; job_id: ObjectId }>;
  private readonly agendaJobs: Collection<{ data?: unknown }>;
  private readonly definitions = new Map<string, JobDefinition<unknown>>();
  private readonly handlers = new Map<string, ReturnType<JobDefinition<unknown>['create']>>();
  /** Runs started in this engine right after enqueue (runAtOnce), by job name, and all of them. */
  private readonly atOnce = new Map<string, number>();
  private readonly atOnceRuns = new Set<Promise<void>>();
  private started = false;

  constructor(
    private readonly db: Db,
    private readonly options: JobRunnerOptions,
  ) {
    this.jobs = db.collection<JobDocument>('jobs');
    this.hashes = db.collection('job_hashes');
    this.agendaJobs = db.collection(AGENDA_COLLECTION);
    this.agenda = new Agenda({
      backend: new MongoBackend({ mongo: db, collection: AGENDA_COLLECTION }),
      notificationChannel: new InMemoryNotificationChannel(),
      processEvery: options.processEveryMs,
      defaultLockLifetime: options.lockLifetimeMs,
      maxConcurrency: 20,
      defaultConcurrency: 5,
    });
    this.agenda.on('error', (err: Error) => log().error({ err: { message: err.message } }, 'agenda error'));
  }

  /** Registers every definition (before `start`). */
  register(definitions: JobDefinition<unknown>[], ctx: unknown): void {
    for (const def of definitions) {
      if (this.definitions.has(def.name)) throw new Error(`Job ${def.name} defined twice`);
      this.definitions.set(def.name, def);
      const handler = def.create(ctx);
      this.handlers.set(def.name, handler);
      const maxAttempts = def.options?.maxAttempts ?? 3;
      const retry = exponential({ delay: def.options?.backoffMs ?? 1000, maxRetries: maxAttempts, factor: 2 });
      // A job that failed for good throws FailedForGood out of the Agenda run: Agenda then records the failure after
      // the run (so Agendash lists the job under Failed, not Completed) and its backoff never retries it.
      this.agenda.define(
        def.name,
        async (aj: Job<{ jobId?: string; recurring?: boolean; data?: unknown }>) => {
          const failed = await this.process(def, handler, maxAttempts, aj);
          if (failed !== undefined) throw new FailedForGood(failed);
        },
        {
          concurrency: def.options?.concurrency ?? 5,
          lockLifetime: def.options?.lockLifetimeMs ?? this.options.lockLifetimeMs,
          backoff: (context) => (context.error instanceof FailedForGood ? null : retry(context)),
        },
      );
    }
  }

  async start(): Promise<void> {
    await this.agenda.start();
    this.started = true;
    // Jobs written but never handed to Agenda (the engine died in between) are scheduled now.
    const pending = await this.jobs.find({ status: 'pending' }).sort({ inserted_at: 1 }).limit(1000).toArray();
    if (pending.length === 0) return;
    const handed = new Set(
      (await this.agendaJobs.find({ 'data.jobId': { $in: pending.map((j) => j._id.toHexString()) } }, { projection: { 'data.jobId': 1 } }).toArray()).map(
        (a) => String((a.data as { jobId?: string } | undefined)?.jobId),
      ),
    );
    for (const job of pending) if (!handed.has(job._id.toHexString())) await this.schedule(job);
  }

  /** Waits (bounded) for running jobs to finish; jobs still running after the timeout are unlocked for another run. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.started) return;
    this.started = false;
    // Runs started at once finish like queued ones; one still running at the timeout is taken over by its fallback.
    await Promise.race([Promise.allSettled([...this.atOnceRuns]), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    await this.agenda.drain(timeoutMs);
    // drain() waits for running jobs but leaves the poller running: stop it (and unlock what did not finish) before
    // the database connection closes.
    await this.agenda.stop();
  }

  /** Writes a job (or, for a request hash with a pending job, finds that job); `job` is its document as written or read. */
  async enqueue(name: string, data: unknown, opts: EnqueueOptions = {}): Promise<{ id: string; existing: boolean; job: JobDocument }> {
    if (!this.definitions.has(name)) throw new Error(`Unknown job ${name}`);
    const id = new ObjectId();
    if (opts.hash) {
      const key = `${name}:${opts.hash}`;
      for (let tries = 0; ; tries++) {
        try {
          await this.hashes.insertOne({ _id: key, job_id: id });
          break;
        } catch (err) {
          if (!isDuplicateKey(err) || tries > 20) throw err;
        }
        const holder = await this.hashes.findOne({ _id: key });
        if (!holder) continue;
        const held = await this.jobs.findOne({ _id: holder.job_id });
        if (held && (held.status === 'pending' || held.status === 'processing')) {
          return { id: held._id.toHexString(), existing: true, job: held };
        }
        // The holder finished: exactly one request takes the hash over (a claim, since a conditional update is not
        // atomic on FerretDB); the others wait for the new holder and get its job.
        if (await claim(this.db, `jobhash:${key}:after:${holder.job_id.toHexString()}`)) {
          await this.hashes.updateOne({ _id: key }, { $set: { job_id: id } });
          break;
        }
        await new Promise((r) => setTimeout(r, 10 * (tries + 1)));
      }
    }
    const now = new Date();
    const doc: JobDocument = {
      _id: id,
      name,
      hash: opts.hash,
      data,
      owner: opts.owner,
      status: 'pending',
      status_code: 202,
      eta: new Date(now.getTime() + this.options.etaSeconds * 1000),
      attempts: 0,
      max_attempts: this.definitions.get(name)!.options?.maxAttempts ?? 3,
      inserted_at: now,
      updated_at: now,
    };
    await this.jobs.insertOne(doc);
    if (!(await this.runAtOnce(doc))) await this.schedule(doc);
    return { id: id.toHexString(), existing: false, job: doc };
  }

  /**
   * Starts a new job in this engine when its definition asks for it and this engine runs fewer than `concurrency` of
   * them; answers false when the queue has to run it. The run goes through the same `process` as a queued one, with
   * the fallback's Agenda job as its handle: a retry reschedules that job after the backoff, a finished run removes it.
   */
  private async runAtOnce(job: JobDocument): Promise<boolean> {
    const def = this.definitions.get(job.name);
    const handler = this.handlers.get(job.name);
    if (!def?.options?.runAtOnce || !handler || !this.started) return false;
    const running = this.atOnce.get(job.name) ?? 0;
    if (running >= (def.options.concurrency ?? 5)) return false;
    this.atOnce.set(job.name, running + 1);
    const lockLifetimeMs = def.options.lockLifetimeMs ?? this.options.lockLifetimeMs;
    try {
      const fallback = await this.agenda.schedule(new Date(Date.now() + lockLifetimeMs), job.name, { jobId: job._id.toHexString() });
      const maxAttempts = def.options.maxAttempts ?? 3;
      const run = this.process(def, handler, maxAttempts, fallback)
        .then(async (failed) => {
          // Failed for good: its Agenda job stays, marked failed, for operators (as a queued run's does), and never runs.
          if (failed === undefined) return;
          fallback.fail(failed);
          const { _id, failReason, failCount, failedAt } = fallback.attrs;
          if (!_id) return;
          await this.agendaJobs.updateOne({ _id: new ObjectId(String(_id)) } as never, { $set: { nextRunAt: null, failReason, failCount, failedAt, lastFinishedAt: failedAt } } as never);
        })
        .catch(async () => {
          // A transient failure (already recorded on the job): the queue retries after the backoff.
          const backoffMs = (def.options?.backoffMs ?? 1000) * 2 ** Math.max(0, (await this.jobs.findOne({ _id: job._id }))!.attempts - 1);
          await fallback.schedule(new Date(Date.now() + backoffMs)).save();
        })
        .catch((err: Error) => log().error({ err: { message: err.message }, job: job.name }, 'could not reschedule a job run started at once; its fallback runs it'))
        .finally(() => {
          this.atOnce.set(job.name, (this.atOnce.get(job.name) ?? 1) - 1);
          this.atOnceRuns.delete(run);
        });
      this.atOnceRuns.add(run);
      return true;
    } catch (err) {
      this.atOnce.set(job.name, (this.atOnce.get(job.name) ?? 1) - 1);
      throw err;
    }
  }

  /**
   * Hands the job to Agenda. Nothing is written to the job document here: on FerretDB an update is a
   * read-modify-write of the whole document, so a write racing the run's own updates could undo them.
   */
  private async schedule(job: JobDocument): Promise<void> {
    await this.agenda.now(job.name, { jobId: job._id.toHexString() });
  }

  async get(id: string): Promise<JobDocument | undefined> {
    if (!ObjectId.isValid(id) || !/^[0-9a-f]{24}$/i.test(id)) return undefined;
    return (await this.jobs.findOne({ _id: new ObjectId(id) })) ?? undefined;
  }

  async list(filter: JobListFilter): Promise<{ jobs: JobDocument[]; total: number }> {
    const q: Filter<JobDocument> = {};
    if (filter.name) q.name = filter.name;
    if (filter.status) q.status = filter.status;
    if (filter.viewer) {
      const own = ownerFilter(filter.viewer.owner);
      Object.assign(q, filter.viewer.system ? { $or: [own, { 'owner.clientId': null, 'owner.userId': null }] } : own);
    }
    if (filter.from || filter.to) {
      q.inserted_at = {};
      if (filter.from) q.inserted_at.$gte = filter.from;
      if (filter.to) q.inserted_at.$lt = filter.to;
    }
    const [jobs, total] = await Promise.all([
      this.jobs.find(q).sort({ inserted_at: -1 }).skip(filter.offset).limit(filter.limit).toArray(),
      this.jobs.countDocuments(q),
    ]);
    return { jobs, total };
  }

  /** Runs a failed job (as just read by the caller) again from its first attempt. False when the job is not failed. */
  async rerun(job: JobDocument): Promise<boolean> {
    if (job.status !== 'failed') return false;
    const run = (job.run ?? 0) + 1;
    if (!(await claim(this.db, `job:${job._id.toHexString()}:run${run}`))) return false; // another operator re-ran it just now
    await this.jobs.updateOne(
      { _id: job._id },
      { $set: { status: 'pending', status_code: 202, attempts: 0, run, updated_at: new Date() }, $unset: { error: '', finished_at: '' } },
    );
    await this.schedule(job);
    return true;
  }

  /** A recurring job: one job document per run. */
  async every(interval: string, name: string, data?: unknown): Promise<void> {
    await this.agenda.every(interval, name, { recurring: true, data });
  }

  async refreshQueueMetrics(): Promise<void> {
    const rows = await this.jobs
      .aggregate<{ _id: { name: string; status: string }; n: number }>([
        { $match: { status: { $in: ['pending', 'processing'] } } },
        { $group: { _id: { name: '$name', status: '$status' }, n: { $sum: 1 } } },
      ])
      .toArray();
    jobQueueDepth.reset();
    for (const name of this.definitions.keys()) for (const status of ['pending', 'processing']) jobQueueDepth.set({ name, status }, 0);
    for (const row of rows) jobQueueDepth.set({ name: row._id.name, status: row._id.status }, row.n);
  }

  private async process(
    def: JobDefinition<unknown>,
    handler: ReturnType<JobDefinition<unknown>['create']>,
    maxAttempts: number,
    aj: Job<{ jobId?: string; recurring?: boolean; data?: unknown }>,
  ): Promise<string | undefined> {
    let jobId = aj.attrs.data?.jobId;
    const recurringRun = !jobId;
    if (!jobId) {
      // A run of a recurring job: give it its own job document.
      const created = await this.enqueueRecurringRun(def.name, aj.attrs.data?.data);
      jobId = created;
    }
    const _id = new ObjectId(jobId);
    const now = new Date();
    const doc = await this.claim(_id, def.options?.lockLifetimeMs ?? this.options.lockLifetimeMs, now);
    if (!doc) return undefined; // finished already, or running elsewhere (a duplicate delivery)
    const logger = log().child({ job: def.name, jobId, attempt: doc.attempts });
    const handle: JobHandle = {
      id: jobId,
      attempt: doc.attempts,
      progress: async (percent, message) => {
        await this.jobs.updateOne({ _id }, { $set: { progress: { percent, message }, updated_at: new Date() } });
        await aj.touch(Math.max(0, Math.min(100, percent))).catch(() => {});
      },
    };
    // A processed one-off job's Agenda document is removed (see finish); a recurring job's stays (it schedules the next
    // run), and so does a failed job's, marked failed, for operators.
    const oneOff = recurringRun ? undefined : aj;
    try {
      const outcome = await handler(doc.data, handle);
      await this.finish(
        _id,
        doc,
        {
          status: 'processed',
          status_code: outcome.status_code,
          response: capStored(
            outcome.response_data !== undefined
              ? { response_data: outcome.response_data, ...(outcome.links ? { links: outcome.links } : {}) }
              : { links: outcome.links ?? [] },
          ) as JobDocument['response'],
        },
        oneOff,
      );
      jobRuns.inc({ name: def.name, outcome: 'processed' });
      logger.info('job processed');
      return undefined;
    } catch (err) {
      if (err instanceof JobFailure) {
        // A failed job keeps its Agenda document, marked failed by the caller, so operators see it in Agendash.
        await this.finish(_id, doc, { status: 'failed', status_code: err.status_code, error: capStored(err.error) });
        jobRuns.inc({ name: def.name, outcome: 'failed' });
        logger.info({ statusCode: err.status_code }, 'job failed');
        return `${err.status_code}: ${maskPersonalData(err.message).slice(0, 200)}`;
      }
      const message = (err as Error)?.message ?? String(err);
      // A recurring run is not retried by Agenda (its next run comes anyway); it stays failed and can be re-run.
      if (recurringRun || doc.attempts >= maxAttempts) {
        await this.finish(_id, doc, {
          status: 'failed',
          status_code: 500,
          error: { type: 'internal_error', message: 'Job failed after retries' },
          last_error: message.slice(0, 1000),
        });
        jobRuns.inc({ name: def.name, outcome: 'failed' });
        logger.error({ err: { message } }, 'job failed after its last attempt');
        return `failed after ${doc.attempts} attempts: ${maskPersonalData(message).slice(0, 200)}`;
      }
      await this.jobs.updateOne({ _id }, { $set: { status: 'pending', last_error: message.slice(0, 1000), updated_at: new Date() } });
      jobRuns.inc({ name: def.name, outcome: 'retry' });
      logger.warn({ err: { message } }, 'job attempt failed; retrying');
      throw err; // Agenda schedules the retry with backoff
    }
  }

  /**
   * Starts the next attempt of a job, or answers undefined when this delivery must not run it: the job is finished,
   * or another worker runs it (status processing, started within the lock lifetime). Agenda's own locking relies on
   * findOneAndUpdate, which FerretDB does not make atomic, so the same job can be delivered twice at once: the
   * attempt is therefore claimed by a unique insert (`job:<id>:run<n>:a<attempt>`), which exactly one delivery wins.
   * A worker that died is taken over once its attempt is older than the lock lifetime.
   * (A document just inserted on one connection is now and then not yet visible to another with FerretDB: retried.)
   */
  private async claim(_id: ObjectId, lockLifetimeMs: number, now: Date): Promise<JobDocument | undefined> {
    for (let tries = 0; tries < 20; tries++) {
      const current = await this.jobs.findOne({ _id });
      if (!current) {
        await new Promise((r) => setTimeout(r, 25 * (tries + 1)));
        continue;
      }
      if (current.status === 'processed' || current.status === 'failed') return undefined;
      if (current.status === 'processing' && current.started_at && now.getTime() - current.started_at.getTime() < lockLifetimeMs) return undefined;
      const attempt = current.attempts + 1;
      if (!(await claim(this.db, `job:${_id.toHexString()}:run${current.run ?? 0}:a${attempt}`))) return undefined;
      await this.jobs.updateOne({ _id }, { $set: { status: 'processing', started_at: now, updated_at: now, attempts: attempt } });
      return { ...current, status: 'processing', started_at: now, updated_at: now, attempts: attempt };
    }
    throw new Error(`job ${_id.toHexString()} not found`);
  }

  private async enqueueRecurringRun(name: string, data: unknown): Promise<string> {
    const now = new Date();
    const doc: JobDocument = {
      _id: new ObjectId(),
      name,
      data,
      status: 'pending',
      status_code: 202,
      eta: new Date(now.getTime() + this.options.etaSeconds * 1000),
      attempts: 0,
      max_attempts: this.definitions.get(name)?.options?.maxAttempts ?? 3,
      inserted_at: now,
      updated_at: now,
    };
    await this.jobs.insertOne(doc);
    return doc._id.toHexString();
  }

  private async finish(_id: ObjectId, doc: JobDocument, set: Partial<JobDocument>, aj?: Job<unknown>): Promise<void> {
    const now = new Date();
    await this.jobs.updateOne({ _id }, { $set: { ...set, finished_at: now, updated_at: now } });
    await Promise.all([
      doc.hash ? this.hashes.deleteOne({ _id: `${doc.name}:${doc.hash}`, job_id: _id }) : undefined,
      // The one-off Agenda document of a finished job is not needed any more (the job document is the record):
      // removing it keeps agendaJobs as small as the work in flight, and Agenda's lock queries (findAndModify, 2 per
      // run plus every poll) scan it on FerretDB. Only the run that finished the job removes it (a duplicate
      // delivery that lost the claim does not), so a retry Agenda still has to schedule is never lost; Agenda's own
      // save after the run then finds no document, which it ignores.
      aj?.attrs._id ? this.agendaJobs.deleteOne({ _id: new ObjectId(String(aj.attrs._id)) } as never) : undefined,
    ]);
  }
}
