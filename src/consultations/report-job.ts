/**
 * The Agenda job building the insurer report (see report.ts). Data: `{report_id}` (on demand: the report document
 * exists already) or `{daily: true}` (the recurring run: the report of the previous UTC day, id `daily-YYYY-MM-DD`,
 * created here idempotently). Progress is reported through the job handle (GET /api/jobs/:id?details=true).
 */
import { DecryptionError } from '../crypto/field-cipher.js';
import type { AppContext } from '../http/context.js';
import { JobFailure, type JobDefinition } from '../jobs/types.js';
import { log } from '../logging/logger.js';
import { generateReport, INSURER_REPORT_JOB, newReportDoc, previousUtcDay, reportsCollection, type ReportDoc } from './report.js';
import { isDuplicateKey } from '../db/mongo.js';

export interface ReportJobData {
  report_id?: string;
  daily?: boolean;
}

const MAX_ATTEMPTS = 3;

export const insurerReportJob: JobDefinition<ReportJobData> = {
  name: INSURER_REPORT_JOB,
  description: 'Insurer report (XLSX) of completed consultations for a date range; daily for the previous UTC day',
  options: { concurrency: 1, maxAttempts: MAX_ATTEMPTS, backoffMs: 5_000 },
  create(ctx: AppContext) {
    return async (data, job) => {
      const reports = reportsCollection(ctx.database.db);
      let report: ReportDoc | null;
      if (data?.report_id) {
        report = await reports.findOne({ _id: data.report_id });
      } else if (data?.daily) {
        const { from, to, day } = previousUtcDay(new Date());
        const fresh = newReportDoc({ id: `daily-${day}`, kind: 'daily', from, to });
        try {
          await reports.insertOne(fresh);
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
        }
        report = await reports.findOne({ _id: fresh._id });
      } else {
        throw new JobFailure(422, { type: 'validation_failed', message: 'Report job needs report_id or daily' });
      }
      if (!report) throw new JobFailure(404, { type: 'not_found', message: 'Report not found' });
      await reports.updateOne({ _id: report._id }, { $set: { job_id: job.id, updated_at: new Date() } });
      const lastAttempt = !!data.daily || job.attempt >= MAX_ATTEMPTS;
      try {
        const done = await generateReport(
          { db: ctx.database.db, consultations: ctx.consultations, cipher: ctx.fieldCipher, media: ctx.media, dictionaries: ctx.dictionaries },
          report,
          (p, m) => job.progress(p, m),
        );
        return {
          status_code: 200,
          links: [{ entity: 'consultation_report', href: `/api/consultations/reports/${done._id}` }],
        };
      } catch (err) {
        const message = err instanceof DecryptionError ? `A consultation result cannot be decrypted: ${err.message}` : 'Report generation failed';
        log().error({ reportId: report._id, err: { message: (err as Error).message } }, 'insurer report failed');
        if (err instanceof DecryptionError || lastAttempt) {
          await reports.updateOne({ _id: report._id }, { $set: { status: 'failed', error: message, updated_at: new Date() } });
        }
        if (err instanceof DecryptionError) throw new JobFailure(500, { type: 'decryption_failed', message });
        throw err;
      }
    };
  },
};
