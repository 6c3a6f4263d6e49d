/**
 * The consultation service: creating a consultation from a referral, the lifecycle transitions, the queue, metrics.
 *
 * Every transition is ONE conditional update (findOneAndUpdate on `{_id, state ∈ allowed, …}`): the database applies
 * it atomically, so of two concurrent requests exactly one wins and the other is answered 409 with the state it met.
 * No multi-document transactions are used (FerretDB has none): the consultation document is the source of truth and
 * the FHIR Encounter is re-derived from it after each change (`encounter_dirty` marks documents whose Encounter still
 * has to be written; GET, every transition and start-up repair them).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Collection, Db, Filter, UpdateFilter } from 'mongodb';
import type { Encounter, Patient, Practitioner, ServiceRequest } from '@medplum/fhirtypes';
import type { FieldCipher } from '../crypto/field-cipher.js';
import type { CollectionSpec } from '../db/mongo.js';
import { HttpError } from '../http/errors.js';
import { log } from '../logging/logger.js';
import { writeEncounter } from './encounter.js';
import { fhirStatus, readOrUndefined, type CodeDictionary, type FhirStore } from './fhir-ports.js';
import {
  aggregate,
  consultationTransitions,
  orgLabel,
  secondsBetween,
  treatmentDurationHistogram,
  waitingTimeHistogram,
  type MetricAggregate,
} from './metrics.js';
import { isValidNorwegianNationalId } from './national-id.js';
import type { Notifier } from './notifier.js';
import { ensureNoMarketingTag } from './patient-tags.js';
import { decryptResult, encryptResult } from './result-crypto.js';
import { illegalTransitionMessage, TRANSITIONS, type ConsultationAction, type ConsultationState, type Outcome } from './states.js';
import type { ConsultationDoc, ConsultationResult, StatusHistoryEntry } from './types.js';

export const CONSULTATIONS_COLLECTION = 'consultations';

export const consultationsCollectionSpec: CollectionSpec = {
  name: CONSULTATIONS_COLLECTION,
  indexes: [
    { key: { active_key: 1 }, name: 'one_live_consultation_per_referral', unique: true },
    { key: { state: 1, created_at: 1 }, name: 'queue' },
    { key: { organization_id: 1, created_at: 1 }, name: 'organization_created' },
    { key: { service_request_id: 1 }, name: 'referral' },
    { key: { encounter_id: 1 }, name: 'encounter' },
    { key: { ends_at: 1 }, name: 'ended' },
    { key: { 'result.kid': 1 }, name: 'result_key' },
    { key: { encounter_dirty: 1 }, name: 'encounter_dirty' },
  ],
};

/** Who is acting: the token's user, as practitioner, and whether it may supervise (assign, cancel any). */
export interface Actor {
  userId: string;
  clientId?: string;
  supervisor: boolean;
}

export interface FinishInput {
  icpc2: string;
  outcome: Outcome;
  patient_national_id?: string | null;
  patient_job_description?: string | null;
  author_practitioner_id?: string;
  notes?: string | null;
  policy_number?: string | null;
}

export interface ListFilter {
  states?: ConsultationState[];
  organizationId?: string;
  practitionerId?: string;
  createdFrom?: Date;
  createdTo?: Date;
  limit: number;
  offset: number;
}

export interface MetricsFilter {
  organizationId?: string;
  createdFrom?: Date;
  createdTo?: Date;
  groupBy: ('day' | 'organization')[];
}

export interface MetricsGroup {
  day?: string;
  organization_id?: string | null;
  consultations: number;
  by_state: Partial<Record<ConsultationState, number>>;
  waiting_time: MetricAggregate;
  treatment_duration: MetricAggregate;
}

export interface ServiceDeps {
  db: Db;
  fhir: FhirStore;
  dictionaries: CodeDictionary;
  cipher: FieldCipher;
  notifier: Notifier;
  sessionBaseUrl: string;
  now?: () => Date;
}

const FHIR_ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

function invalid(entry: string, description: string): HttpError {
  return new HttpError(422, 'validation_failed', 'Validation failed', {
    invalid: [{ entry_type: 'json_data_property', entry, rules: [{ rule: 'invalid', params: [], description }] }],
  });
}

function referenceId(ref: string | undefined, type: string): string | undefined {
  if (!ref) return undefined;
  const m = new RegExp(`^(?:.*/)?${type}/([A-Za-z0-9\\-.]{1,64})(?:/_history/.*)?$`).exec(ref);
  return m?.[1];
}

/** The insurer/partner organization a referral was sent for: the first Organization among performer, requester. */
function organizationOf(sr: ServiceRequest): string | undefined {
  for (const ref of [...(sr.performer ?? []), sr.requester]) {
    const id = referenceId(ref?.reference, 'Organization');
    if (id) return id;
  }
  return undefined;
}

export class ConsultationService {
  readonly collection: Collection<ConsultationDoc>;
  private readonly now: () => Date;

  constructor(private readonly deps: ServiceDeps) {
    this.collection = deps.db.collection<ConsultationDoc>(CONSULTATIONS_COLLECTION);
    this.now = deps.now ?? (() => new Date());
  }

  get cipher(): FieldCipher {
    return this.deps.cipher;
  }

  // ---- create -------------------------------------------------------------------------------------------------

  /**
   * Creates the consultation of a referral (ServiceRequest). Idempotent per referral: while a consultation of the
   * referral is live (not cancelled) the existing one is returned (`created: false`).
   */
  async create(input: { service_request_id: string; organization_id?: string }, actor: Actor): Promise<{ doc: ConsultationDoc; created: boolean }> {
    const { fhir } = this.deps;
    const sr = await readOrUndefined<ServiceRequest>(fhir, 'ServiceRequest', input.service_request_id);
    if (!sr) throw invalid('$.service_request_id', `Referral ServiceRequest/${input.service_request_id} does not exist`);
    if (sr.status === 'revoked' || sr.status === 'entered-in-error') {
      throw new HttpError(409, 'request_conflict', `Referral ServiceRequest/${sr.id} is ${sr.status}; no consultation can be created from it`);
    }
    const patientId = referenceId(sr.subject?.reference, 'Patient');
    if (!patientId) throw invalid('$.service_request_id', `Referral ServiceRequest/${sr.id} has no Patient subject`);

    const existing = await this.collection.findOne({ active_key: sr.id! });
    if (existing) {
      await this.afterCreate(existing);
      return { doc: (await this.collection.findOne({ _id: existing._id })) ?? existing, created: false };
    }

    const id = randomUUID();
    const encounterId = (await this.plannedEncounterOf(sr.id!)) ?? id;
    const now = this.now();
    const doc: ConsultationDoc = {
      _id: id,
      state: 'ready_for_pickup',
      service_request_id: sr.id!,
      patient_id: patientId,
      encounter_id: encounterId,
      organization_id: input.organization_id ?? organizationOf(sr) ?? actor.clientId ?? null,
      active_key: sr.id!,
      practitioner_id: null,
      assigned_by: null,
      created_by: actor.userId,
      created_at: now,
      assigned_at: null,
      starts_at: null,
      ends_at: null,
      cancelled_at: null,
      cancel_reason: null,
      sessions: null,
      notification: null,
      waiting_time_seconds: null,
      treatment_duration_seconds: null,
      result: null,
      status_history: [{ state: 'ready_for_pickup', action: 'create', at: now, by: actor.userId }],
      rev: 1,
      encounter_rev: 0,
      encounter_dirty: true,
      updated_at: now,
    };
    try {
      await this.collection.insertOne(doc);
    } catch (err) {
      if ((err as { code?: number }).code !== 11000) throw err;
      // A concurrent create for the same referral won.
      const winner = await this.collection.findOne({ active_key: sr.id! });
      if (!winner) throw err;
      await this.afterCreate(winner);
      return { doc: winner, created: false };
    }
    consultationTransitions.inc({ action: 'create', outcome: 'applied' });
    log().info({ consultationId: id, serviceRequestId: sr.id }, 'consultation created');
    await this.afterCreate(doc);
    return { doc: (await this.collection.findOne({ _id: id })) ?? doc, created: true };
  }

  /** The Encounter ingestion planned for the referral, when it is still planned and no consultation uses it. */
  private async plannedEncounterOf(serviceRequestId: string): Promise<string | undefined> {
    let candidates: Encounter[];
    try {
      candidates = (await this.deps.fhir.search<Encounter>('Encounter', { 'based-on': `ServiceRequest/${serviceRequestId}` })).resources;
    } catch (err) {
      log().warn({ err: { message: (err as Error).message } }, 'searching the planned Encounter of a referral failed');
      return undefined;
    }
    for (const enc of candidates) {
      if (enc.status !== 'planned' || !enc.id) continue;
      if (await this.collection.findOne({ encounter_id: enc.id }, { projection: { _id: 1 } })) continue;
      return enc.id;
    }
    return undefined;
  }

  private async afterCreate(doc: ConsultationDoc): Promise<void> {
    await ensureNoMarketingTag(this.deps.fhir, doc.patient_id);
    await this.syncEncounter(doc);
  }

  // ---- transitions --------------------------------------------------------------------------------------------

  /** The practitioner (token user) takes a consultation from the queue. */
  async pick(id: string, actor: Actor): Promise<ConsultationDoc> {
    const practitionerId = this.practitionerIdOf(actor);
    await this.ensurePractitioner(practitionerId);
    const now = this.now();
    return this.transition(id, 'pick', {}, {
      set: { practitioner_id: practitionerId, assigned_by: actor.userId, assigned_at: now },
      history: { state: 'pending_sp', action: 'pick', at: now, by: actor.userId, practitioner_id: practitionerId },
    });
  }

  /** A supervisor assigns (or re-assigns, while not started) a practitioner. */
  async assign(id: string, practitionerId: string, actor: Actor): Promise<ConsultationDoc> {
    if (!FHIR_ID_RE.test(practitionerId)) throw invalid('$.practitioner_id', 'must be a practitioner id (1-64 letters, digits, - or .)');
    await this.ensurePractitioner(practitionerId);
    const now = this.now();
    return this.transition(id, 'assign', {}, {
      set: { practitioner_id: practitionerId, assigned_by: actor.userId, assigned_at: now },
      history: { state: 'pending_sp', action: 'assign', at: now, by: actor.userId, practitioner_id: practitionerId },
    });
  }

  /** The assigned practitioner starts: session links are created and sent to the patient. */
  async start(id: string, actor: Actor): Promise<ConsultationDoc> {
    const current = await this.mustGet(id);
    const practitionerId = this.practitionerIdOf(actor);
    const now = this.now();
    const sessions = {
      chat: this.sessionLink('chat'),
      video: this.sessionLink('video'),
    };
    const waiting = secondsBetween(current.created_at, now);
    const doc = await this.transition(id, 'start', { practitioner_id: practitionerId }, {
      set: { starts_at: now, sessions, waiting_time_seconds: waiting },
      history: { state: 'in_progress', action: 'start', at: now, by: actor.userId, practitioner_id: practitionerId },
    });
    waitingTimeHistogram.observe({ organization: orgLabel(doc.organization_id) }, waiting);
    return this.notify(doc);
  }

  /** The assigned practitioner finishes and records the (encrypted) result. */
  async finish(id: string, input: FinishInput, actor: Actor): Promise<ConsultationDoc> {
    const current = await this.mustGet(id);
    const practitionerId = this.practitionerIdOf(actor);
    const result = await this.validateResult(input, practitionerId);
    const now = this.now();
    const encrypted = encryptResult(this.deps.cipher, id, result, now);
    const duration = current.starts_at ? secondsBetween(current.starts_at, now) : null;
    const doc = await this.transition(id, 'finish', { practitioner_id: practitionerId }, {
      set: { ends_at: now, result: encrypted, treatment_duration_seconds: duration },
      history: { state: 'completed', action: 'finish', at: now, by: actor.userId, practitioner_id: practitionerId },
    });
    if (duration !== null) treatmentDurationHistogram.observe({ organization: orgLabel(doc.organization_id) }, duration);
    return doc;
  }

  /** Cancels a consultation that is not completed. Practitioners may cancel their own; supervisors any. */
  async cancel(id: string, reason: string, actor: Actor): Promise<ConsultationDoc> {
    const now = this.now();
    const extra: Filter<ConsultationDoc> = actor.supervisor ? {} : { practitioner_id: this.practitionerIdOf(actor) };
    const current = await this.mustGet(id);
    return this.transition(id, 'cancel', extra, {
      set: { cancelled_at: now, cancel_reason: reason, active_key: `${current.service_request_id}:cancelled:${id}` },
      history: { state: 'cancelled', action: 'cancel', at: now, by: actor.userId, reason },
    });
  }

  /** Sends the session links again (the patient lost them); only while in progress. */
  async resendLinks(id: string, actor: Actor): Promise<ConsultationDoc> {
    const doc = await this.mustGet(id);
    if (doc.state !== 'in_progress' || !doc.sessions) {
      throw new HttpError(409, 'request_conflict', `Cannot send session links of consultation ${id}: its state is ${doc.state}; links exist only while in_progress`);
    }
    if (!actor.supervisor && doc.practitioner_id !== this.practitionerIdOf(actor)) {
      throw new HttpError(403, 'forbidden', `Consultation ${id} is assigned to another practitioner`);
    }
    return this.notify(doc);
  }

  private async notify(doc: ConsultationDoc): Promise<ConsultationDoc> {
    if (!doc.sessions || !doc.starts_at) return doc;
    try {
      const sent = await this.deps.notifier.sendSessionLinks({
        consultation_id: doc._id,
        patient_id: doc.patient_id,
        chat_url: doc.sessions.chat.url,
        video_url: doc.sessions.video.url,
        starts_at: doc.starts_at,
      });
      const notification = { outbox_id: sent.id, at: this.now() };
      await this.collection.updateOne({ _id: doc._id }, { $set: { notification } });
      return { ...doc, notification };
    } catch (err) {
      // The consultation has started; the links can be re-sent (POST …/notify). Do not fail the start.
      log().error({ consultationId: doc._id, err: { message: (err as Error).message } }, 'sending session links failed');
      return doc;
    }
  }

  private sessionLink(kind: 'chat' | 'video'): { id: string; url: string } {
    const sid = randomBytes(24).toString('base64url');
    return { id: sid, url: `${this.deps.sessionBaseUrl}/${kind}/${sid}` };
  }

  private practitionerIdOf(actor: Actor): string {
    if (!FHIR_ID_RE.test(actor.userId)) {
      throw new HttpError(403, 'forbidden', 'The token subject is not a valid practitioner id (1-64 letters, digits, - or .)');
    }
    return actor.userId;
  }

  /** Makes `Practitioner/<id>` resolvable (a minimal resource when none exists yet). */
  private async ensurePractitioner(id: string): Promise<void> {
    const found = await readOrUndefined<Practitioner>(this.deps.fhir, 'Practitioner', id);
    if (found) return;
    try {
      await this.deps.fhir.create<Practitioner>({ resourceType: 'Practitioner', id, active: true }, { id });
    } catch (err) {
      if (fhirStatus(err) !== 409) throw err;
    }
  }

  private async validateResult(input: FinishInput, practitionerId: string): Promise<ConsultationResult> {
    const icpc2 = input.icpc2.trim().toUpperCase();
    if (!/^[A-Z]-?[0-9]{2}(\.[0-9]{1,2})?$/.test(icpc2)) throw invalid('$.icpc2', 'must be an ICPC-2 code such as R74');
    if (!(await this.deps.dictionaries.isValidCode('ICPC2', icpc2))) {
      throw invalid('$.icpc2', `${icpc2} is not an active code of the ICPC2 dictionary`);
    }
    const nid = input.patient_national_id ?? null;
    if (nid !== null && !isValidNorwegianNationalId(nid)) {
      throw invalid('$.patient_national_id', 'must be a valid 11-digit national id (check digits do not match)');
    }
    const blank = (v: string | null | undefined) => (v === undefined || v === null || v.trim() === '' ? null : v.trim());
    return {
      icpc2,
      outcome: input.outcome,
      patient_national_id: nid,
      patient_job_description: blank(input.patient_job_description),
      author_practitioner_id: input.author_practitioner_id ?? practitionerId,
      notes: blank(input.notes),
      policy_number: blank(input.policy_number),
    };
  }

  /**
   * Applies `action` atomically: the update matches only when the state allows the action (and `extra`, e.g. the
   * assigned practitioner). When nothing matched, the current document says why: 404, 409 (state) or 403 (owner).
   */
  private async transition(
    id: string,
    action: keyof typeof TRANSITIONS,
    extra: Filter<ConsultationDoc>,
    change: { set: Partial<ConsultationDoc>; history: StatusHistoryEntry },
  ): Promise<ConsultationDoc> {
    const t = TRANSITIONS[action];
    const now = change.history.at;
    const filter = { _id: id, state: { $in: t.from }, ...extra } as Filter<ConsultationDoc>;
    const update: UpdateFilter<ConsultationDoc> = {
      $set: { ...change.set, state: t.to, updated_at: now, encounter_dirty: true },
      $push: { status_history: change.history },
      $inc: { rev: 1 },
    };
    const updated = await this.collection.findOneAndUpdate(filter, update, { returnDocument: 'after' });
    if (!updated) {
      consultationTransitions.inc({ action, outcome: 'conflict' });
      const current = await this.collection.findOne({ _id: id });
      if (!current) throw new HttpError(404, 'not_found', `Consultation ${id} not found`);
      if (!t.from.includes(current.state)) {
        throw new HttpError(409, 'request_conflict', illegalTransitionMessage(action, id, current.state), { state: current.state });
      }
      throw new HttpError(403, 'forbidden', `Consultation ${id} is assigned to another practitioner; only that practitioner${action === 'cancel' ? ' or a supervisor' : ''} may ${action} it`);
    }
    consultationTransitions.inc({ action, outcome: 'applied' });
    log().info({ consultationId: id, action, state: updated.state }, 'consultation transition');
    await this.syncEncounter(updated);
    return updated;
  }

  // ---- Encounter sync -----------------------------------------------------------------------------------------

  /** Writes the Encounter when it lags behind; failures are logged and retried later (GET, next change, start-up). */
  async syncEncounter(doc: ConsultationDoc): Promise<void> {
    if (!doc.encounter_dirty) return;
    try {
      if (await writeEncounter(this.deps.fhir, doc)) {
        await this.collection.updateOne({ _id: doc._id, rev: doc.rev }, { $set: { encounter_dirty: false, encounter_rev: doc.rev } });
      }
    } catch (err) {
      log().error({ consultationId: doc._id, err: { message: (err as Error).message } }, 'writing the consultation Encounter failed; will retry');
    }
  }

  /** Start-up repair: writes every Encounter that lags behind its consultation. */
  async repairEncounters(limit = 1000): Promise<number> {
    const dirty = await this.collection.find({ encounter_dirty: true }).limit(limit).toArray();
    for (const doc of dirty) await this.syncEncounter(doc);
    return dirty.length;
  }

  // ---- reads --------------------------------------------------------------------------------------------------

  async get(id: string): Promise<ConsultationDoc | undefined> {
    const doc = await this.collection.findOne({ _id: id });
    if (doc?.encounter_dirty) await this.syncEncounter(doc);
    return doc ?? undefined;
  }

  private async mustGet(id: string): Promise<ConsultationDoc> {
    const doc = await this.collection.findOne({ _id: id });
    if (!doc) throw new HttpError(404, 'not_found', `Consultation ${id} not found`);
    return doc;
  }

  decrypt(doc: ConsultationDoc): ConsultationResult | undefined {
    return doc.result ? decryptResult(this.deps.cipher, doc._id, doc.result) : undefined;
  }

  private listQuery(f: { states?: ConsultationState[]; organizationId?: string; practitionerId?: string; createdFrom?: Date; createdTo?: Date }): Filter<ConsultationDoc> {
    const q: Filter<ConsultationDoc> = {};
    if (f.states?.length) q.state = { $in: f.states };
    if (f.organizationId) q.organization_id = f.organizationId;
    if (f.practitionerId) q.practitioner_id = f.practitionerId;
    if (f.createdFrom || f.createdTo) {
      q.created_at = {};
      if (f.createdFrom) q.created_at.$gte = f.createdFrom;
      if (f.createdTo) q.created_at.$lt = f.createdTo;
    }
    return q;
  }

  /** The queue: oldest first (the contractual time to serve starts at created_at). */
  async list(filter: ListFilter): Promise<{ docs: ConsultationDoc[]; total: number }> {
    const q = this.listQuery(filter);
    const [docs, total] = await Promise.all([
      this.collection.find(q).sort({ created_at: 1, _id: 1 }).skip(filter.offset).limit(filter.limit).toArray(),
      this.collection.countDocuments(q),
    ]);
    return { docs, total };
  }

  /** WAITING_TIME and TREATMENT_DURATION aggregated per UTC day of created_at and/or organization. */
  async metrics(filter: MetricsFilter): Promise<MetricsGroup[]> {
    const q = this.listQuery(filter);
    const groups = new Map<string, { key: Pick<MetricsGroup, 'day' | 'organization_id'>; n: number; states: Partial<Record<ConsultationState, number>>; wait: number[]; treat: number[] }>();
    const cursor = this.collection.find(q, {
      projection: { created_at: 1, organization_id: 1, state: 1, waiting_time_seconds: 1, treatment_duration_seconds: 1 },
    });
    for await (const d of cursor) {
      const key: Pick<MetricsGroup, 'day' | 'organization_id'> = {};
      if (filter.groupBy.includes('day')) key.day = d.created_at.toISOString().slice(0, 10);
      if (filter.groupBy.includes('organization')) key.organization_id = d.organization_id;
      const k = JSON.stringify(key);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { key, n: 0, states: {}, wait: [], treat: [] }));
      g.n++;
      g.states[d.state] = (g.states[d.state] ?? 0) + 1;
      if (typeof d.waiting_time_seconds === 'number') g.wait.push(d.waiting_time_seconds);
      if (typeof d.treatment_duration_seconds === 'number') g.treat.push(d.treatment_duration_seconds);
    }
    return [...groups.values()]
      .sort((a, b) => `${a.key.day ?? ''}|${a.key.organization_id ?? ''}`.localeCompare(`${b.key.day ?? ''}|${b.key.organization_id ?? ''}`))
      .map((g) => ({
        ...g.key,
        consultations: g.n,
        by_state: g.states,
        waiting_time: aggregate(g.wait),
        treatment_duration: aggregate(g.treat),
      }));
  }

  /** The referral's Patient (for the report's user national id). */
  async patient(id: string): Promise<Patient | undefined> {
    return readOrUndefined<Patient>(this.deps.fhir, 'Patient', id);
  }
}

export type { ConsultationAction };
