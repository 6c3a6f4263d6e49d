/**
 * The live queue's event log (collection `consultation_events`): one append-only, ordered record per lifecycle
 * change of a consultation (create, pick, assign, start, finish, cancel), per tenant.
 *
 * Order: each tenant's events are numbered 1, 2, 3 … without gaps. An event is stored as
 * `{_id: "<tenant>|<seq>"}`; the unique `_id` decides which writer gets a number (FerretDB has no atomic
 * read-modify-write, so no counter document): a writer inserts the number after the last one it knows exists and, on
 * a duplicate key, finds the new end and tries the next. A number is only tried once the one before exists, so the
 * sequence has no holes and a reader that sees event N has already been able to see N − 1. Readers tail by `_id`
 * lookups (the one filter FerretDB answers from an index), which also sees events other engine processes wrote.
 *
 * Events carry ids, states and times; never result fields (those are encrypted) and never free text.
 */
import type { Collection, Db } from 'mongodb';
import { isDuplicateKey, type CollectionSpec } from '../platform/db/mongo.js';
import type { ConsultationState } from './states.js';
import type { ConsultationDoc } from './types.js';

const EVENTS_COLLECTION = 'consultation_events';

export const eventsCollectionSpec: CollectionSpec = {
  name: EVENTS_COLLECTION,
  indexes: [{ key: { change_id: 1 }, name: 'change' }],
};

/** The lifecycle actions that are events; technical changes (Encounter sync, notify, key rotation) are not. */
export const EVENT_ACTIONS = ['create', 'pick', 'assign', 'start', 'finish', 'cancel'] as const;
type EventAction = (typeof EVENT_ACTIONS)[number];

function isEventAction(action: string): action is EventAction {
  return (EVENT_ACTIONS as readonly string[]).includes(action);
}

export interface ConsultationEvent {
  _id: string;
  tenant: string;
  seq: number;
  /** `<consultation id>:<revision written>`: one event per change. */
  change_id: string;
  action: EventAction;
  at: Date;
  consultation_id: string;
  state: ConsultationState;
  service_request_id: string;
  patient_id: string;
  encounter_id: string;
  organization_id: string | null;
  practitioner_id: string | null;
  created_at: Date;
  assigned_at: Date | null;
  starts_at: Date | null;
  ends_at: Date | null;
  cancelled_at: Date | null;
  booked_at: Date | null;
}

const key = (tenant: string, seq: number) => `${tenant}|${seq}`;
const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

/** What a client receives as the event's data (the SSE `id` is `seq`). */
export function eventView(ev: ConsultationEvent): Record<string, unknown> {
  return {
    seq: ev.seq,
    action: ev.action,
    at: iso(ev.at),
    consultation: {
      id: ev.consultation_id,
      state: ev.state,
      service_request_id: ev.service_request_id,
      patient_id: ev.patient_id,
      encounter_id: ev.encounter_id,
      organization_id: ev.organization_id,
      practitioner_id: ev.practitioner_id,
      created_at: iso(ev.created_at),
      assigned_at: iso(ev.assigned_at),
      starts_at: iso(ev.starts_at),
      ends_at: iso(ev.ends_at),
      cancelled_at: iso(ev.cancelled_at),
      booked_at: iso(ev.booked_at),
    },
  };
}

export class ConsultationEventLog {
  readonly collection: Collection<ConsultationEvent>;
  /** Per tenant: the highest sequence number known to exist. */
  private readonly known = new Map<string, number>();
  /** Readers of this process waiting for a tenant's next event (woken at once; others poll). */
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(db: Db) {
    this.collection = db.collection<ConsultationEvent>(EVENTS_COLLECTION);
  }

  /** Appends the event of a lifecycle change (`doc` is the document as written); other actions are ignored. */
  async record(doc: ConsultationDoc, action: string, at: Date): Promise<void> {
    if (!isEventAction(action)) return;
    const fields = {
      tenant: doc.tenant,
      change_id: `${doc._id}:${doc.rev}`,
      action,
      at,
      consultation_id: doc._id,
      state: doc.state,
      service_request_id: doc.service_request_id,
      patient_id: doc.patient_id,
      encounter_id: doc.encounter_id,
      organization_id: doc.organization_id,
      practitioner_id: doc.practitioner_id,
      created_at: doc.created_at,
      assigned_at: doc.assigned_at,
      starts_at: doc.starts_at,
      ends_at: doc.ends_at,
      cancelled_at: doc.cancelled_at,
      booked_at: doc.booking?.at ?? null,
    };
    let seq = (this.known.get(doc.tenant) ?? (await this.latest(doc.tenant))) + 1;
    for (;;) {
      try {
        await this.collection.insertOne({ _id: key(doc.tenant, seq), seq, ...fields });
        break;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        seq = (await this.endFrom(doc.tenant, seq)) + 1;
      }
    }
    if (seq > (this.known.get(doc.tenant) ?? 0)) this.known.set(doc.tenant, seq);
    const ws = this.waiters.get(doc.tenant);
    if (ws) for (const w of [...ws]) w();
  }

  /** Like record, unless the change already has its event (completing a change whose writer stopped). */
  async recordOnce(doc: ConsultationDoc, action: string, at: Date): Promise<void> {
    if (!isEventAction(action)) return;
    if (await this.collection.findOne({ change_id: `${doc._id}:${doc.rev}` }, { projection: { _id: 1 } })) return;
    await this.record(doc, action, at);
  }

  /** The number of the tenant's last event (0: none yet). */
  async latest(tenant: string): Promise<number> {
    const end = await this.endFrom(tenant, this.known.get(tenant) ?? 0);
    if (end > (this.known.get(tenant) ?? 0)) this.known.set(tenant, end);
    return end;
  }

  /** Event `seq` of the tenant, if written. */
  async get(tenant: string, seq: number): Promise<ConsultationEvent | null> {
    return this.collection.findOne({ _id: key(tenant, seq) });
  }

  /** Resolves when this process appends an event of the tenant, or after `ms` (events of other processes). */
  wait(tenant: string, ms: number): { done: Promise<void>; cancel(): void } {
    let set = this.waiters.get(tenant);
    if (!set) this.waiters.set(tenant, (set = new Set()));
    const waiters = set;
    let wake!: () => void;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve) => {
      wake = () => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0 && this.waiters.get(tenant) === waiters) this.waiters.delete(tenant);
        resolve();
      };
      timer = setTimeout(wake, ms);
      waiters.add(wake);
    });
    return { done, cancel: () => wake() };
  }

  private async exists(tenant: string, seq: number): Promise<boolean> {
    return (await this.collection.findOne({ _id: key(tenant, seq) }, { projection: { _id: 1 } })) !== null;
  }

  /** The last existing number, given that `from` exists (or is 0): gallops forward, then bisects. */
  private async endFrom(tenant: string, from: number): Promise<number> {
    let lo = from;
    let step = 1;
    while (await this.exists(tenant, lo + step)) {
      lo += step;
      step *= 2;
    }
    let hi = lo + step;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await this.exists(tenant, mid)) lo = mid;
      else hi = mid;
    }
    return lo;
  }
}
