/**
 * The Agenda job building the insurer report (see report.ts). Data: `{report_id}` (on demand: the report document
 * exists already) or `{daily: true}` (the recurring run: the report of the previous UTC day, id `daily-YYYY-MM-DD`,
 * created here idempotently). Progress is reported through the job handle (GET /api/jobs/:id?details=true).
 */
import { DecryptionError } from '../lib/crypto/field-cipher.js';
import type { BillingService } from '../billing/service.js';
import type { ConsultationService } from './service.js';
import type { DictionaryService } from '../dictionaries/service.js';
import type { FieldCipher } from '../lib/crypto/field-cipher.js';
import type { Database } from '../platform/db/mongo.js';
import type { MediaStorage } from '../platform/storage/media-storage.js';
import { JobFailure, type JobDefinition, type JobHandle } from '../jobs/types.js';
import { log } from '../platform/logging/logger.js';
import { generateReport, INSURER_REPORT_JOB, newReportDoc, previousUtcDay, reportsCollection, type ReportDoc } from './report.js';
import { isDuplicateKey } from '../platform/db/mongo.js';

/** What the insurer report job uses of the engine. */
interface ReportJobDeps {
  /** Insurer billing. */
  readonly billing: BillingService;
  /** The consultation service. */
  readonly consultations: ConsultationService;
  /** The database connection. */
  readonly database: Database;
  /** Code lists. */
  readonly dictionaries: DictionaryService;
  /** Field encryption at rest. */
  readonly fieldCipher: FieldCipher;
  /** Signed originals and generated documents. */
  readonly media: MediaStorage;
}

interface ReportJobData {
  report_id?: string;
  daily?: boolean;
}

const MAX_ATTEMPTS = 3;

export const insurerReportJob: JobDefinition<ReportJobData> = {
  name: INSURER_REPORT_JOB,
  description: 'Insurer report (XLSX) of completed consultations for a date range; daily for the previous UTC day',
  options: { concurrency: 1, maxAttempts: MAX_ATTEMPTS, backoffMs: 5_000 },
  create(ctx: ReportJobDeps) {
    return async (data, job) => {
      const reports = reportsCollection(ctx.database.db);
      const todo: ReportDoc[] = [];
      if (data?.report_id) {
        const report = await reports.findOne({ _id: data.report_id });
        if (!report) throw new JobFailure(404, { type: 'not_found', message: 'Report not found' });
        todo.push(report);
      } else if (data?.daily) {
        // One report per tenant that completed consultations that day: a report never mixes legal entities.
        const { from, to, day } = previousUtcDay(new Date());
        const tenants = (await ctx.consultations.collection.distinct('tenant', { state: 'completed', ends_at: { $gte: from, $lt: to } })) as string[];
        for (const tenant of tenants.filter((t) => typeof t === 'string').sort()) {
          const fresh = newReportDoc({ id: `daily-${tenant}-${day}`, kind: 'daily', from, to, client_id: tenant });
          try {
            await reports.insertOne(fresh);
          } catch (err) {
            if (!isDuplicateKey(err)) throw err;
          }
          const report = await reports.findOne({ _id: fresh._id });
          if (report && report.status !== 'ready') todo.push(report);
        }
        if (todo.length === 0) return { status_code: 200, response_data: { reports: 0 } };
      } else {
        throw new JobFailure(422, { type: 'validation_failed', message: 'Report job needs report_id or daily' });
      }
      let last: ReportDoc | undefined;
      for (const report of todo) last = await generateOne(ctx, report, job, !!data.daily);
      return {
        status_code: 200,
        links: todo.length === 1 ? [{ entity: 'consultation_report', href: `/api/consultations/reports/${last!._id}` }] : [],
        ...(todo.length > 1 ? { response_data: { reports: todo.length } } : {}),
      };
    };
  },
};

async function generateOne(ctx: ReportJobDeps, report: ReportDoc, job: JobHandle, daily: boolean): Promise<ReportDoc> {
  const reports = reportsCollection(ctx.database.db);
  await reports.updateOne({ _id: report._id }, { $set: { job_id: job.id, updated_at: new Date() } });
  const lastAttempt = daily || job.attempt >= MAX_ATTEMPTS;
  try {
    return await generateReport(
      {
        db: ctx.database.db,
        consultations: ctx.consultations,
        cipher: ctx.fieldCipher,
        media: ctx.media,
        dictionaries: ctx.dictionaries,
        extraSheets: [(wb, r) => ctx.billing.addOrdersSheet(wb, r.client_id, r.from, r.to, r.organization_id)],
      },
      report,
      (p, m) => job.progress(p, m),
    );
  } catch (err) {
    const message = err instanceof DecryptionError ? `A consultation result cannot be decrypted: ${err.message}` : 'Report generation failed';
    log().error({ reportId: report._id, err: { message: (err as Error).message } }, 'insurer report failed');
    if (err instanceof DecryptionError || lastAttempt) {
      await reports.updateOne({ _id: report._id }, { $set: { status: 'failed', error: message, updated_at: new Date() } });
    }
    if (err instanceof DecryptionError) throw new JobFailure(500, { type: 'decryption_failed', message });
    throw err;
  }
}
