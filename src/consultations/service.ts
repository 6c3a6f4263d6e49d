/**
 * The consultation service: creating a consultation from a referral, the lifecycle transitions, the queue, metrics.
 *
 * Every change is a single-writer change (revision-store.ts): a unique insert claims the revision the change was
 * decided on, so of concurrent requests exactly one wins and the others decide again on the new state (409 naming
 * it). This holds on MongoDB and on FerretDB 1.24, whose conditional updates are not atomic. No multi-document
 * transactions: the consultation document is the source of truth and the FHIR Encounter is written from it inside
 * each change, before the document (a failed Encounter write leaves the consultation unchanged: 503).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Collection, Db, Filter } from 'mongodb';
import type { Encounter, Patient, Practitioner, ServiceRequest } from '@medplum/fhirtypes';
import type { FieldCipher } from '../lib/crypto/field-cipher.js';
import { isDuplicateKey, type CollectionSpec } from '../platform/db/mongo.js';
import { HttpError } from '../platform/http/errors.js';
import { validatePersonNumber } from '../lib/identifiers/norwegian-ids.js';
import { log } from '../platform/logging/logger.js';
import { writeEncounter } from './encounter.js';
import { ConsultationEventLog } from './events.js';
import type { CodeDictionary } from '../dictionaries/code-dictionary.js';
import { fhirStatus, readOrUndefined, type FhirStore } from '../fhir-store/ports.js';
import {
  aggregate,
  consultationTransitions,
  orgLabel,
  secondsBetween,
  treatmentDurationHistogram,
  waitingTimeHistogram,
  type MetricAggregate,
} from './metrics.js';
import type { ConsultationBilling } from '../billing/consultation-billing.js';
import { newOutboxMessage, type NoticeKind, type OutboxMessage, type OutboxWriter } from '../notifications/outbox.js';
import { ensureNoMarketingTag } from './patient-tags.js';
import { decryptResult, encryptResult } from './result-crypto.js';
import { illegalTransitionMessage, TRANSITIONS, type ConsultationAction, type ConsultationState, type Outcome } from './states.js';
import { RevisionStore, STALE_CLAIM_MS, type Change } from './revision-store.js';
import type { ConsultationDoc, ConsultationResult } from './types.js';
import { VALIDATION_FAILED_MESSAGE } from '../platform/http/validation-error.js';

export const CONSULTATIONS_COLLECTION = 'consultations';

export const consultationsCollectionSpec: CollectionSpec = {
  name: CONSULTATIONS_COLLECTION,
  indexes: [
    { key: { active_key: 1 }, name: 'one_live_consultation_per_referral', unique: true },
    { key: { tenant: 1, state: 1, created_at: 1 }, name: 'tenant_queue' },
    { key: { tenant: 1, patient_id: 1, created_at: 1 }, name: 'tenant_patient' },
    { key: { state: 1, created_at: 1 }, name: 'queue' },
    { key: { organization_id: 1, created_at: 1 }, name: 'organization_created' },
    { key: { service_request_id: 1 }, name: 'referral' },
    { key: { encounter_id: 1 }, name: 'encounter' },
    { key: { ends_at: 1 }, name: 'ended' },
    { key: { 'result.kid': 1 }, name: 'result_key' },
    { key: { encounter_synced: 1 }, name: 'encounter_synced' },
  ],
};

/** Who is acting: the token's user, as practitioner, and whether it may supervise (assign, cancel any). */
export interface Actor {
  userId: string;
  /** The legal entity the actor works for: only its consultations exist for the actor (another's answer 404). */
  tenant: string;
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

interface ListFilter {
  tenant: string;
  states?: ConsultationState[];
  organizationId?: string;
  practitionerId?: string;
  createdFrom?: Date;
  createdTo?: Date;
  limit: number;
  offset: number;
}

interface MetricsFilter {
  tenant: string;
  organizationId?: string;
  createdFrom?: Date;
  createdTo?: Date;
  groupBy: ('day' | 'organization')[];
}

interface MetricsGroup {
  day?: string;
  organization_id?: string | null;
  consultations: number;
  by_state: Partial<Record<ConsultationState, number>>;
  waiting_time: MetricAggregate;
  treatment_duration: MetricAggregate;
}

interface ServiceDeps {
  db: Db;
  /** The FHIR repository of a tenant. */
  fhir: { forTenant(tenant: string): FhirStore };
  dictionaries: CodeDictionary;
  cipher: FieldCipher;
  /** Where the notices to patients go (the outbox; delivered by the job notifications.deliver). */
  outbox: OutboxWriter;
  /** Base URL of the chat/video session links (read when links are made). */
  sessionBaseUrl: () => string;
  /** Orders for the insurer (src/billing): told of every created and cancelled consultation. */
  billing?: ConsultationBilling;
  now?: () => Date;
}

const FHIR_ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
/** How far back the start-up repair looks for consultations whose order line or credit may be missing. */
const BILLING_REPAIR_DAYS = 7;

function notFound(id: string): HttpError {
  return new HttpError(404, 'not_found', `Consultation ${id} not found`);
}

function invalid(entry: string, description: string): HttpError {
  return new HttpError(422, 'validation_failed', VALIDATION_FAILED_MESSAGE, {
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
  readonly store: RevisionStore;
  /** The live queue's ordered events, written with each lifecycle change (events.ts). */
  readonly events: ConsultationEventLog;
  private readonly now: () => Date;

  constructor(private readonly deps: ServiceDeps) {
    this.collection = deps.db.collection<ConsultationDoc>(CONSULTATIONS_COLLECTION);
    this.now = deps.now ?? (() => new Date());
    this.events = new ConsultationEventLog(deps.db);
    this.store = new RevisionStore(
      deps.db,
      this.collection,
      (next) => writeEncounter(deps.fhir.forTenant(next.tenant), next),
      this.now,
      (next, change) => this.recordEvents(next, change.action, change.at, change.late),
      deps.outbox,
    );
  }

  /**
   * Appends the live queue events of a written change. The create event is written with the consultation's first
   * change (revision 2: normally the Encounter write that follows the creation at once), so it is as durable as every
   * other event: a failure leaves that change's claim pending and the start-up repair records what is missing.
   */
  private async recordEvents(next: ConsultationDoc, action: string, at: Date, late: boolean): Promise<void> {
    const record = (doc: ConsultationDoc, a: string, when: Date) => (late ? this.events.recordOnce(doc, a, when) : this.events.record(doc, a, when));
    try {
      if (next.rev === 2) {
        const created: ConsultationDoc = {
          ...next,
          rev: 1,
          state: 'ready_for_pickup',
          practitioner_id: null,
          assigned_at: null,
          starts_at: null,
          ends_at: null,
          cancelled_at: null,
        };
        await record(created, 'create', next.created_at);
      }
      await record(next, action, at);
    } catch (err) {
      log().error({ consultationId: next._id, action, err: { message: (err as Error).message } }, 'recording the consultation event failed');
      throw err;
    }
  }

  private fhir(tenant: string): FhirStore {
    return this.deps.fhir.forTenant(tenant);
  }

  get cipher(): FieldCipher {
    return this.deps.cipher;
  }

  // ---- create -------------------------------------------------------------------------------------------------

  /**
   * Creates the consultation of a referral (ServiceRequest). Idempotent per referral: while a consultation of the
   * referral is live (not cancelled) the existing one is returned (`created: false`).
   */
  async create(
    input: { service_request_id: string; organization_id?: string; booking?: boolean },
    actor: Actor,
  ): Promise<{ doc: ConsultationDoc; created: boolean }> {
    const sr = await readOrUndefined<ServiceRequest>(this.fhir(actor.tenant), 'ServiceRequest', input.service_request_id);
    if (!sr) throw invalid('$.service_request_id', `Referral ServiceRequest/${input.service_request_id} does not exist`);
    if (sr.status === 'revoked' || sr.status === 'entered-in-error') {
      throw new HttpError(409, 'request_conflict', `Referral ServiceRequest/${sr.id} is ${sr.status}; no consultation can be created from it`);
    }
    const patientId = referenceId(sr.subject?.reference, 'Patient');
    if (!patientId) throw invalid('$.service_request_id', `Referral ServiceRequest/${sr.id} has no Patient subject`);

    const activeKey = `${actor.tenant}|${sr.id!}`;
    const existing = await this.collection.findOne({ active_key: activeKey });
    if (existing) {
      await this.afterCreate(existing, actor.userId);
      return { doc: (await this.collection.findOne({ _id: existing._id })) ?? existing, created: false };
    }

    const id = randomUUID();
    const encounterId = (await this.plannedEncounterOf(actor.tenant, sr.id!)) ?? id;
    const doc = this.newDoc(id, actor, {
      service_request_id: sr.id!,
      patient_id: patientId,
      encounter_id: encounterId,
      organization_id: input.organization_id ?? organizationOf(sr) ?? actor.clientId ?? null,
      active_key: activeKey,
      booking: input.booking ? { by: actor.userId, at: this.now() } : null,
    });
    return this.insertNew(doc, actor);
  }

  /**
   * Rebooking: a follow-up consultation of consultation `id` (in progress or completed) for the same referral and
   * patient, back in the queue; its Encounter is `partOf` the earlier one. Only the earlier consultation's
   * practitioner or a supervisor may book it. Idempotent: while a follow-up of `id` is live it is returned
   * (`created: false`).
   */
  async createFollowUp(id: string, actor: Actor): Promise<{ doc: ConsultationDoc; created: boolean }> {
    const earlier = await this.mustGet(id, actor.tenant);
    if (earlier.state !== 'in_progress' && earlier.state !== 'completed') {
      throw new HttpError(409, 'request_conflict', `Cannot book a follow-up of consultation ${id}: its state is ${earlier.state}; only in_progress or completed ones`, {
        state: earlier.state,
      });
    }
    if (!actor.supervisor) this.mustBeAssigned(earlier, this.practitionerIdOf(actor), 'rebook');
    const activeKey = `${actor.tenant}|${earlier.service_request_id}|follow-up|${earlier._id}`;
    const existing = await this.collection.findOne({ active_key: activeKey });
    if (existing) {
      await this.afterCreate(existing, actor.userId);
      return { doc: (await this.collection.findOne({ _id: existing._id })) ?? existing, created: false };
    }
    const newId = randomUUID();
    const doc = this.newDoc(newId, actor, {
      service_request_id: earlier.service_request_id,
      patient_id: earlier.patient_id,
      encounter_id: newId,
      organization_id: earlier.organization_id,
      active_key: activeKey,
      follow_up_of: earlier._id,
      part_of_encounter_id: earlier.encounter_id,
    });
    return this.insertNew(doc, actor);
  }

  private newDoc(
    id: string,
    actor: Actor,
    fields: Pick<ConsultationDoc, 'service_request_id' | 'patient_id' | 'encounter_id' | 'organization_id' | 'active_key' | 'follow_up_of' | 'part_of_encounter_id'> &
      Partial<Pick<ConsultationDoc, 'booking'>>,
  ): ConsultationDoc {
    const now = this.now();
    return {
      _id: id,
      tenant: actor.tenant,
      state: 'ready_for_pickup',
      booking: null,
      ...fields,
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
      encounter_synced: false,
      updated_at: now,
    };
  }

  /** Inserts a new consultation; a concurrent create with the same active_key may win (then that one is returned). */
  private async insertNew(doc: ConsultationDoc, actor: Actor): Promise<{ doc: ConsultationDoc; created: boolean }> {
    const id = doc._id;
    try {
      await this.collection.insertOne(doc);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // A concurrent create for the same referral won.
      const winner = await this.collection.findOne({ active_key: doc.active_key });
      if (!winner) throw err;
      await this.afterCreate(winner, actor.userId);
      return { doc: winner, created: false };
    }
    consultationTransitions.inc({ action: 'create', outcome: 'applied' });
    log().info({ consultationId: id, serviceRequestId: doc.service_request_id, followUpOf: doc.follow_up_of }, 'consultation created');
    await this.afterCreate(doc, actor.userId);
    return { doc: (await this.collection.findOne({ _id: id })) ?? doc, created: true };
  }

  /** The Encounter ingestion planned for the referral, when it is still planned and no consultation uses it. */
  private async plannedEncounterOf(tenant: string, serviceRequestId: string): Promise<string | undefined> {
    let candidates: Encounter[];
    try {
      candidates = (await this.fhir(tenant).search<Encounter>('Encounter', { 'based-on': `ServiceRequest/${serviceRequestId}` })).resources;
    } catch (err) {
      log().warn({ err: { message: (err as Error).message } }, 'searching the planned Encounter of a referral failed');
      return undefined;
    }
    for (const enc of candidates) {
      if (enc.status !== 'planned' || !enc.id) continue;
      if (await this.collection.findOne({ encounter_id: enc.id, tenant }, { projection: { _id: 1 } })) continue;
      return enc.id;
    }
    return undefined;
  }

  private async afterCreate(doc: ConsultationDoc, by: string): Promise<void> {
    await ensureNoMarketingTag(this.fhir(doc.tenant), doc.patient_id);
    if (!doc.encounter_synced) await this.syncEncounter(doc._id, by);
    if (!this.deps.billing) return;
    try {
      await this.deps.billing.consultationCreated(doc);
    } catch (err) {
      log().error({ consultationId: doc._id, err: { message: (err as Error).message } }, 'creating the order line of a consultation failed');
      throw new HttpError(503, 'service_unavailable', `Consultation ${doc._id} exists but its order line could not be saved; repeat the request (it is idempotent)`);
    }
  }

  // ---- transitions --------------------------------------------------------------------------------------------

  /** The practitioner (token user) takes a consultation from the queue. */
  async pick(id: string, actor: Actor): Promise<ConsultationDoc> {
    const practitionerId = this.practitionerIdOf(actor);
    await this.ensureReferralOpen(id, actor.tenant);
    await this.ensurePractitioner(actor.tenant, practitionerId);
    return this.transition(id, 'pick', actor, (_doc, now) => ({
      set: { practitioner_id: practitionerId, assigned_by: actor.userId, assigned_at: now },
      push: { state: 'pending_sp', action: 'pick', at: now, by: actor.userId, practitioner_id: practitionerId },
    }));
  }

  /** A supervisor assigns (or re-assigns, while not started) a practitioner. */
  async assign(id: string, practitionerId: string, actor: Actor): Promise<ConsultationDoc> {
    if (!FHIR_ID_RE.test(practitionerId)) throw invalid('$.practitioner_id', 'must be a practitioner id (1-64 letters, digits, - or .)');
    await this.ensureReferralOpen(id, actor.tenant);
    await this.ensurePractitioner(actor.tenant, practitionerId);
    return this.transition(id, 'assign', actor, (_doc, now) => ({
      set: { practitioner_id: practitionerId, assigned_by: actor.userId, assigned_at: now },
      push: { state: 'pending_sp', action: 'assign', at: now, by: actor.userId, practitioner_id: practitionerId },
    }));
  }

  /** The assigned practitioner starts: session links are created and, in the same change, sent to the patient. */
  async start(id: string, actor: Actor): Promise<ConsultationDoc> {
    const practitionerId = this.practitionerIdOf(actor);
    await this.ensureReferralOpen(id, actor.tenant);
    const doc = await this.transition(id, 'start', actor, (current, now) => {
      this.mustBeAssigned(current, practitionerId, 'start');
      const sessions = { chat: this.sessionLink('chat'), video: this.sessionLink('video') };
      const links = this.sessionLinksNotice(current, sessions, now, now);
      return {
        set: {
          starts_at: now,
          sessions,
          waiting_time_seconds: secondsBetween(current.created_at, now),
          notification: { outbox_id: links._id, at: now },
        },
        push: { state: 'in_progress', action: 'start', at: now, by: actor.userId, practitioner_id: practitionerId },
        notices: [links],
      };
    });
    waitingTimeHistogram.observe({ organization: orgLabel(doc.organization_id) }, doc.waiting_time_seconds ?? 0);
    return doc;
  }

  /** The assigned practitioner finishes and records the (encrypted) result. */
  async finish(id: string, input: FinishInput, actor: Actor): Promise<ConsultationDoc> {
    const practitionerId = this.practitionerIdOf(actor);
    const result = await this.validateResult(input, practitionerId);
    const doc = await this.transition(id, 'finish', actor, (current, now) => {
      this.mustBeAssigned(current, practitionerId, 'finish');
      return {
        set: {
          ends_at: now,
          result: encryptResult(this.deps.cipher, id, result, now),
          treatment_duration_seconds: current.starts_at ? secondsBetween(current.starts_at, now) : null,
        },
        push: { state: 'completed', action: 'finish', at: now, by: actor.userId, practitioner_id: practitionerId },
        notices: [this.notice(current, 'consultation.completed', { consultation_id: id, ends_at: now }, now)],
      };
    });
    if (doc.treatment_duration_seconds !== null) {
      treatmentDurationHistogram.observe({ organization: orgLabel(doc.organization_id) }, doc.treatment_duration_seconds);
    }
    return doc;
  }

  /** Cancels a consultation that is not completed. Practitioners may cancel their own; supervisors any. */
  async cancel(id: string, reason: string, actor: Actor): Promise<ConsultationDoc> {
    return this.transition(id, 'cancel', actor, (current, now) => {
      if (!actor.supervisor) {
        if (current.state === 'ready_for_pickup') {
          throw new HttpError(403, 'forbidden', `Only a supervisor (scope consultations:supervise) can cancel consultation ${id} while it is unassigned`);
        }
        this.mustBeAssigned(current, this.practitionerIdOf(actor), 'cancel');
      }
      return this.cancelChange(current, reason, actor.userId, now);
    });
  }

  private cancelChange(current: ConsultationDoc, reason: string, by: string, now: Date): Pick<Change, 'set' | 'push'> {
    return {
      set: { cancelled_at: now, cancel_reason: reason, active_key: `${current.service_request_id}:cancelled:${current._id}` },
      push: { state: 'cancelled', action: 'cancel', at: now, by, reason },
    };
  }

  /** Sends the session links again (the patient lost them); only while in progress. */
  async resendLinks(id: string, actor: Actor): Promise<ConsultationDoc> {
    return this.store.mutate(id, (current) => {
      if (current.tenant !== actor.tenant) throw notFound(id);
      if (current.state !== 'in_progress' || !current.sessions || !current.starts_at) {
        throw new HttpError(409, 'request_conflict', `Cannot send session links of consultation ${id}: its state is ${current.state}; links exist only while in_progress`);
      }
      if (!actor.supervisor) this.mustBeAssigned(current, this.practitionerIdOf(actor), 'notify');
      const now = this.now();
      const links = this.sessionLinksNotice(current, current.sessions, current.starts_at, now);
      return { action: 'notify', by: actor.userId, set: { notification: { outbox_id: links._id, at: now } }, affectsEncounter: false, notices: [links] };
    });
  }

  /**
   * The sender may revoke a referral (henvisning cancel message) while its consultation waits. Before anyone picks,
   * is assigned or starts, a revoked referral cancels the consultation and the request gets 409.
   */
  private async ensureReferralOpen(id: string, tenant: string): Promise<void> {
    const doc = await this.mustGet(id, tenant);
    if (doc.state !== 'ready_for_pickup' && doc.state !== 'pending_sp') return;
    const sr = await readOrUndefined<ServiceRequest>(this.fhir(tenant), 'ServiceRequest', doc.service_request_id);
    if (sr && sr.status !== 'revoked' && sr.status !== 'entered-in-error') return;
    const what = sr ? sr.status! : 'deleted';
    const reason = sr ? `referral ${what} by the sender` : 'referral deleted';
    await this.transition(id, 'cancel', { userId: 'system', tenant, supervisor: true }, (current, now) => this.cancelChange(current, reason, 'system', now)).catch(
      () => undefined,
    );
    throw new HttpError(409, 'request_conflict', `Consultation ${id} is cancelled: its referral ServiceRequest/${doc.service_request_id} is ${what}`, {
      state: 'cancelled',
    });
  }

  private mustBeAssigned(doc: ConsultationDoc, practitionerId: string, action: string): void {
    if (doc.practitioner_id !== practitionerId) {
      throw new HttpError(
        403,
        'forbidden',
        `Consultation ${doc._id} is assigned to another practitioner; only that practitioner${action === 'cancel' || action === 'notify' ? ' or a supervisor' : ''} may ${action} it`,
      );
    }
  }

  /**
   * A notice of this consultation's change. Its id is the revision the change is decided on (one change, one
   * notice of a kind), so writing it again when a change is completed after a crash is not a second message.
   */
  private notice(current: ConsultationDoc, kind: NoticeKind, payload: OutboxMessage['payload'], now: Date): OutboxMessage {
    return newOutboxMessage(
      {
        _id: `${current._id}:${current.rev}:${kind}`,
        tenant: current.tenant,
        kind,
        category: 'transactional',
        recipient: { reference: `Patient/${current.patient_id}` },
        payload,
      },
      now,
    );
  }

  private sessionLinksNotice(current: ConsultationDoc, sessions: NonNullable<ConsultationDoc['sessions']>, startsAt: Date, now: Date): OutboxMessage {
    return this.notice(current, 'consultation.session_links', { consultation_id: current._id, chat_url: sessions.chat.url, video_url: sessions.video.url, starts_at: startsAt }, now);
  }

  private sessionLink(kind: 'chat' | 'video'): { id: string; url: string } {
    const sid = randomBytes(24).toString('base64url');
    return { id: sid, url: `${this.deps.sessionBaseUrl()}/${kind}/${sid}` };
  }

  private practitionerIdOf(actor: Actor): string {
    if (!FHIR_ID_RE.test(actor.userId)) {
      throw new HttpError(403, 'forbidden', 'The token subject is not a valid practitioner id (1-64 letters, digits, - or .)');
    }
    return actor.userId;
  }

  /** Makes `Practitioner/<id>` resolvable (a minimal resource when none exists yet). */
  private async ensurePractitioner(tenant: string, id: string): Promise<void> {
    const found = await readOrUndefined<Practitioner>(this.fhir(tenant), 'Practitioner', id);
    if (found) return;
    try {
      await this.fhir(tenant).create<Practitioner>({ resourceType: 'Practitioner', id, active: true }, { id });
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
    if (nid !== null) {
      const check = validatePersonNumber(nid);
      if (!check.valid) {
        throw invalid(
          '$.patient_national_id',
          `must be a valid national id (fødselsnummer or D-number): ${check.reason === 'format' ? '11 digits' : check.reason === 'date' ? 'the date part is not a valid day' : 'the check digits do not match'}`,
        );
      }
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
   * Applies lifecycle `action` as one single-writer change (revision-store.ts): allowed only from the states of
   * TRANSITIONS (else 409 naming the current state); `build` adds the action's fields (and may refuse with 403).
   * The Encounter is written inside the change; when that fails nothing is applied (503).
   */
  private async transition(
    id: string,
    action: keyof typeof TRANSITIONS,
    actor: Actor,
    build: (current: ConsultationDoc, now: Date) => Pick<Change, 'set' | 'push' | 'notices'>,
  ): Promise<ConsultationDoc> {
    const t = TRANSITIONS[action];
    let doc: ConsultationDoc;
    try {
      doc = await this.store.mutate(id, (current) => {
        if (current.tenant !== actor.tenant) throw notFound(id);
        if (!t.from.includes(current.state)) {
          throw new HttpError(409, 'request_conflict', illegalTransitionMessage(action, id, current.state), { state: current.state });
        }
        const now = this.now();
        const change = build(current, now);
        return {
          action,
          by: actor.userId,
          set: { ...change.set, state: t.to, encounter_synced: true },
          push: change.push,
          notices: change.notices,
          affectsEncounter: true,
        };
      });
    } catch (err) {
      if (err instanceof HttpError) {
        consultationTransitions.inc({ action, outcome: err.status === 409 ? 'conflict' : 'refused' });
        throw err;
      }
      consultationTransitions.inc({ action, outcome: 'error' });
      log().error({ consultationId: id, action, err: { message: (err as Error).message } }, 'consultation transition failed');
      throw new HttpError(503, 'service_unavailable', `The ${action} of consultation ${id} could not be saved (FHIR Encounter or database unavailable); nothing was changed, retry`);
    }
    consultationTransitions.inc({ action, outcome: 'applied' });
    log().info({ consultationId: id, action, state: doc.state }, 'consultation transition');
    if (action === 'cancel' && this.deps.billing) {
      await this.deps.billing.consultationCancelled(doc).catch((err: Error) => {
        log().error({ consultationId: id, err: { message: err.message } }, 'crediting the order line of a cancelled consultation failed');
      });
    }
    return doc;
  }

  // ---- Encounter sync -----------------------------------------------------------------------------------------

  /** Writes the Encounter of a consultation created but not yet synced (a change of its own, like any other). */
  async syncEncounter(id: string, by: string): Promise<void> {
    try {
      await this.store.mutate(id, (current) =>
        current.encounter_synced ? null : { action: 'encounter', by, set: { encounter_synced: true }, affectsEncounter: true },
      );
    } catch (err) {
      log().error({ consultationId: id, err: { message: (err as Error).message } }, 'writing the consultation Encounter failed; will retry');
    }
  }

  /**
   * Start-up repair: completes changes a stopped engine left half-done, writes missing Encounters and tells billing
   * again of the consultations created in the last BILLING_REPAIR_DAYS (its calls are idempotent: a line or credit a
   * stopped engine or a failed write left out is added).
   */
  async repair(limit = 1000): Promise<number> {
    const completed = await this.store.completeStale(limit);
    const cutoff = new Date(this.now().getTime() - STALE_CLAIM_MS);
    const unsynced = await this.collection.find({ encounter_synced: false, created_at: { $lt: cutoff } }, { projection: { _id: 1 } }).limit(limit).toArray();
    for (const d of unsynced) await this.syncEncounter(d._id, 'system');
    return completed + unsynced.length + (await this.repairBilling(limit));
  }

  private async repairBilling(limit: number): Promise<number> {
    const billing = this.deps.billing;
    if (!billing) return 0;
    const since = new Date(this.now().getTime() - BILLING_REPAIR_DAYS * 86_400_000);
    let n = 0;
    for await (const doc of this.collection.find({ created_at: { $gte: since } }).sort({ created_at: -1 }).limit(limit)) {
      try {
        await billing.consultationCreated(doc);
        if (doc.state === 'cancelled') await billing.consultationCancelled(doc);
        n++;
      } catch (err) {
        log().error({ consultationId: doc._id, err: { message: (err as Error).message } }, 'billing repair of a consultation failed');
      }
    }
    return n;
  }

  // ---- reads --------------------------------------------------------------------------------------------------

  /** A consultation of `tenant`; another tenant's is not found. */
  async get(id: string, tenant: string): Promise<ConsultationDoc | undefined> {
    const doc = await this.collection.findOne({ _id: id }); // by _id alone: the one filter FerretDB answers from an index
    return doc?.tenant === tenant ? doc : undefined;
  }

  private async mustGet(id: string, tenant: string): Promise<ConsultationDoc> {
    const doc = await this.get(id, tenant);
    if (!doc) throw notFound(id);
    return doc;
  }

  decrypt(doc: ConsultationDoc): ConsultationResult | undefined {
    return doc.result ? decryptResult(this.deps.cipher, doc._id, doc.result) : undefined;
  }

  private listQuery(f: { tenant: string; states?: ConsultationState[]; organizationId?: string; practitionerId?: string; createdFrom?: Date; createdTo?: Date }): Filter<ConsultationDoc> {
    const q: Filter<ConsultationDoc> = { tenant: f.tenant };
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

  /** A patient's consultations in the tenant, newest first (bounded). */
  async patientHistory(tenant: string, patientId: string, limit: number): Promise<ConsultationDoc[]> {
    return this.collection.find({ tenant, patient_id: patientId }).sort({ created_at: -1, _id: 1 }).limit(limit).toArray();
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
  async patient(tenant: string, id: string): Promise<Patient | undefined> {
    return readOrUndefined<Patient>(this.fhir(tenant), 'Patient', id);
  }
}

export type { ConsultationAction };
