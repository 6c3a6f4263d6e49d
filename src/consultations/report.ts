/**
 * The insurer report: an XLSX workbook (exceljs) with one row per consultation completed in a date range (ends_at in
 * [from, to)), holding the decrypted result fields, WAITING_TIME and TREATMENT_DURATION.
 *
 * A second sheet holds the insurer orders of the range with amounts, discounts and totals (src/billing).
 *
 * Built by the Agenda job `consultations.insurer_report` (daily for the previous UTC day, and on demand through the
 * API). The workbook holds medical data, so it is stored ENCRYPTED (AES-256-GCM envelope bound to the report id) in
 * media storage and decrypted only when a `consultation_result:read` token downloads it. Report metadata lives in the
 * `consultation_reports` collection (no result content there).
 */
import ExcelJS from 'exceljs';
import type { Collection, Db } from 'mongodb';
import { randomUUID } from 'node:crypto';
import type { FieldCipher } from '../lib/crypto/field-cipher.js';
import type { CollectionSpec } from '../platform/db/mongo.js';
import type { MediaStorage } from '../platform/storage/media-storage.js';
import type { CodeDictionary } from '../dictionaries/code-dictionary.js';
import { wholeSeconds } from './metrics.js';
import type { ConsultationService } from './service.js';
import type { ConsultationDoc, ConsultationResult } from './types.js';

const REPORTS_COLLECTION = 'consultation_reports';
export const INSURER_REPORT_JOB = 'consultations.insurer_report';
export const XLSX_CONTENT_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const NATIONAL_ID_SYSTEMS = ['urn:oid:2.16.578.1.12.4.1.4.1', 'urn:oid:2.16.578.1.12.4.1.4.2', 'urn:oid:2.16.578.1.12.4.1.4.3'];

type ReportStatus = 'pending' | 'processing' | 'ready' | 'failed';

export interface ReportDoc {
  _id: string;
  kind: 'daily' | 'on_demand';
  status: ReportStatus;
  from: Date;
  to: Date;
  organization_id: string | null;
  requested_by: string | null;
  /** The tenant (legal entity) whose consultations the report holds; only its tokens list and download it. */
  client_id: string | null;
  job_id: string | null;
  created_at: Date;
  updated_at: Date;
  row_count: number | null;
  media_key: string | null;
  size: number | null;
  /** Key id the stored workbook is encrypted with (the rotation query uses it). */
  kid: string | null;
  error: string | null;
}

export const reportsCollectionSpec: CollectionSpec = {
  name: REPORTS_COLLECTION,
  indexes: [{ key: { created_at: -1 }, name: 'created' }, { key: { kid: 1 }, name: 'key' }],
};

export function reportsCollection(db: Db): Collection<ReportDoc> {
  return db.collection<ReportDoc>(REPORTS_COLLECTION);
}

export function reportContext(reportId: string): string {
  return `consultation_report:${reportId}`;
}

function reportMediaKey(reportId: string): string {
  return `consultation-reports/${reportId}.xlsx.enc`;
}

/** A day (YYYY-MM-DD, UTC) or an ISO 8601 instant. `end`: a day means the end of that day (exclusive next midnight). */
export function parseRangeBound(value: string, end: boolean): Date | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const d = new Date(`${value}T00:00:00.000Z`);
    if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== value) return undefined;
    return end ? new Date(d.getTime() + 86_400_000) : d;
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function newReportDoc(input: { from: Date; to: Date; organization_id?: string | null; requested_by?: string | null; client_id?: string | null; kind: ReportDoc['kind']; id?: string }): ReportDoc {
  const now = new Date();
  return {
    _id: input.id ?? randomUUID(),
    kind: input.kind,
    status: 'pending',
    from: input.from,
    to: input.to,
    organization_id: input.organization_id ?? null,
    requested_by: input.requested_by ?? null,
    client_id: input.client_id ?? null,
    job_id: null,
    created_at: now,
    updated_at: now,
    row_count: null,
    media_key: null,
    size: null,
    kid: null,
    error: null,
  };
}

export const REPORT_COLUMNS: { header: string; key: string; width: number }[] = [
  { header: 'Consultation id', key: 'consultation_id', width: 38 },
  { header: 'Referral (ServiceRequest) id', key: 'service_request_id', width: 38 },
  { header: 'Organization id', key: 'organization_id', width: 24 },
  { header: 'Practitioner id', key: 'practitioner_id', width: 24 },
  { header: 'Created at (UTC)', key: 'created_at', width: 20 },
  { header: 'Assigned at (UTC)', key: 'assigned_at', width: 20 },
  { header: 'Started at (UTC)', key: 'starts_at', width: 20 },
  { header: 'Ended at (UTC)', key: 'ends_at', width: 20 },
  { header: 'Waiting time (s)', key: 'waiting_time_seconds', width: 12 },
  { header: 'Treatment duration (s)', key: 'treatment_duration_seconds', width: 12 },
  { header: 'ICPC-2', key: 'icpc2', width: 8 },
  { header: 'ICPC-2 text', key: 'icpc2_text', width: 30 },
  { header: 'Outcome', key: 'outcome', width: 20 },
  { header: 'User national id', key: 'user_national_id', width: 14 },
  { header: 'Patient national id (if not the user)', key: 'patient_national_id', width: 14 },
  { header: 'Patient job description', key: 'patient_job_description', width: 30 },
  { header: 'Author practitioner id', key: 'author_practitioner_id', width: 24 },
  { header: 'Notes', key: 'notes', width: 50 },
  { header: 'Insurance policy number', key: 'policy_number', width: 20 },
];

const seconds = (s: number | null) => (s === null ? null : wholeSeconds(s));

interface ReportDeps {
  db: Db;
  consultations: ConsultationService;
  cipher: FieldCipher;
  media: MediaStorage;
  dictionaries: CodeDictionary;
  /** Further sheets (the insurer's orders, src/billing), added after the consultations. */
  extraSheets?: ((wb: ExcelJS.Workbook, report: ReportDoc) => Promise<void>)[];
}

/** Builds the workbook of `report`, encrypts it into media storage and marks the report ready. */
export async function generateReport(
  deps: ReportDeps,
  report: ReportDoc,
  progress: (percent: number, message?: string) => Promise<void>,
): Promise<ReportDoc> {
  const reports = reportsCollection(deps.db);
  await reports.updateOne({ _id: report._id }, { $set: { status: 'processing', updated_at: new Date(), error: null } });
  // Only the report's own tenant: a report without one (made before tenancy) matches nothing.
  const q: Record<string, unknown> = { tenant: report.client_id, state: 'completed', ends_at: { $gte: report.from, $lt: report.to } };
  if (report.organization_id) q.organization_id = report.organization_id;
  const coll = deps.consultations.collection;
  const total = await coll.countDocuments(q);
  await progress(5, `${total} consultations`);

  const wb = new ExcelJS.Workbook();
  wb.creator = 'hl7-engine';
  wb.created = new Date();
  const ws = wb.addWorksheet('Consultations');
  ws.columns = REPORT_COLUMNS;
  ws.getRow(1).font = { bold: true };
  ws.views = [{ state: 'frozen', ySplit: 1 }];
  for (const key of ['created_at', 'assigned_at', 'starts_at', 'ends_at']) ws.getColumn(key).numFmt = 'yyyy-mm-dd hh:mm:ss';

  const icpcText = new Map<string, string>();
  const userIds = new Map<string, string>();
  let done = 0;
  for await (const doc of coll.find(q).sort({ ends_at: 1, _id: 1 })) {
    const result: ConsultationResult | undefined = deps.consultations.decrypt(doc as ConsultationDoc);
    if (result && !icpcText.has(result.icpc2) && deps.dictionaries.getCode) {
      const code = await deps.dictionaries.getCode('ICPC2', result.icpc2).catch(() => undefined);
      icpcText.set(result.icpc2, code?.display?.nb ?? code?.display?.en ?? Object.values(code?.display ?? {})[0] ?? '');
    }
    if (!userIds.has(doc.patient_id)) {
      const patient = await deps.consultations.patient(doc.tenant, doc.patient_id).catch(() => undefined);
      const ident = patient?.identifier?.find((i) => i.system && NATIONAL_ID_SYSTEMS.includes(i.system));
      userIds.set(doc.patient_id, ident?.value ?? '');
    }
    ws.addRow({
      consultation_id: doc._id,
      service_request_id: doc.service_request_id,
      organization_id: doc.organization_id ?? '',
      practitioner_id: doc.practitioner_id ?? '',
      created_at: doc.created_at,
      assigned_at: doc.assigned_at ?? null,
      starts_at: doc.starts_at ?? null,
      ends_at: doc.ends_at ?? null,
      waiting_time_seconds: seconds(doc.waiting_time_seconds),
      treatment_duration_seconds: seconds(doc.treatment_duration_seconds),
      icpc2: result?.icpc2 ?? '',
      icpc2_text: result ? icpcText.get(result.icpc2) ?? '' : '',
      outcome: result?.outcome ?? '',
      user_national_id: userIds.get(doc.patient_id) ?? '',
      patient_national_id: result?.patient_national_id ?? '',
      patient_job_description: result?.patient_job_description ?? '',
      author_practitioner_id: result?.author_practitioner_id ?? '',
      notes: result?.notes ?? '',
      policy_number: result?.policy_number ?? '',
    });
    done++;
    if (done % 50 === 0) await progress(5 + Math.floor((85 * done) / Math.max(1, total)), `${done}/${total} rows`);
  }
  ws.autoFilter = { from: { row: 1, column: 1 }, to: { row: 1, column: REPORT_COLUMNS.length } };
  for (const add of deps.extraSheets ?? []) await add(wb, report);
  await progress(90, 'writing workbook');
  const xlsx = Buffer.from(await wb.xlsx.writeBuffer());
  const envelope = deps.cipher.encryptBytes(xlsx, reportContext(report._id));
  const key = reportMediaKey(report._id);
  await deps.media.put(key, envelope, 'application/octet-stream');
  const now = new Date();
  const set = { status: 'ready' as const, row_count: done, media_key: key, size: xlsx.length, kid: deps.cipher.activeKeyId, updated_at: now, error: null };
  await reports.updateOne({ _id: report._id }, { $set: set });
  await progress(100, `${done} rows`);
  return { ...report, ...set };
}

/** The decrypted workbook of a ready report. */
export async function readReport(deps: Pick<ReportDeps, 'cipher' | 'media'>, report: ReportDoc): Promise<Buffer | undefined> {
  if (report.status !== 'ready' || !report.media_key) return undefined;
  const obj = await deps.media.get(report.media_key);
  if (!obj) return undefined;
  return deps.cipher.decryptBytes(obj.bytes, reportContext(report._id));
}

/** [from, to) of the UTC day before `now`. */
export function previousUtcDay(now: Date): { from: Date; to: Date; day: string } {
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const from = new Date(to.getTime() - 86_400_000);
  return { from, to, day: from.toISOString().slice(0, 10) };
}
