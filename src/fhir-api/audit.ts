/**
 * AuditEvents for every read and search of personal data, written through the FHIR repository.
 *
 * Requests do not wait for the write: events are queued and written in batches (every 50 ms or 200 events) with
 * `bulkLoad` (validated; stored once, without a history copy). A failed batch is retried with backoff; events are only dropped after
 * `MAX_ATTEMPTS`, and then an error with the number of lost events is logged (never silently). `flush()` drains the
 * queue (engine shutdown, tests). If the queue exceeds `MAX_QUEUE` (database down for long), requests wait for room
 * instead of growing memory without bound: back-pressure rather than loss.
 */
import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditEventEntity, Reference, Resource } from '@medplum/fhirtypes';
import type { AuditInteraction, AuditRecord, AuditTrail } from '../fhir-store/ports.js';
import { rootLogger } from '../platform/logging/logger.js';

/** Where AuditEvents of one tenant are written. */
type AuditSink = (tenant: string) => { bulkLoad(resources: Resource[], opts: { validate?: boolean; history?: boolean; skipExisting?: boolean }): Promise<number> };

const ENTITY_LIMIT = 50;
const BATCH_SIZE = 200;
const FLUSH_MS = 50;
const MAX_ATTEMPTS = 8;
const MAX_QUEUE = 20_000;

const ACTION: Record<AuditInteraction, AuditEvent['action']> = {
  read: 'R',
  vread: 'R',
  'search-type': 'E',
  'history-instance': 'R',
  create: 'C',
  update: 'U',
  delete: 'D',
};

/** Patient references a resource is about (subject/patient/for, or the Patient itself). */
function patientRefs(r: Resource): string[] {
  if (r.resourceType === 'Patient') return r.id ? [`Patient/${r.id}`] : [];
  const out: string[] = [];
  const o = r as unknown as Record<string, unknown>;
  for (const k of ['subject', 'patient', 'for']) {
    const ref = (o[k] as Reference | undefined)?.reference;
    if (typeof ref === 'string' && ref.startsWith('Patient/')) out.push(ref);
  }
  return out;
}

function buildAuditEvent(rec: AuditRecord, now = new Date()): AuditEvent {
  const entity: AuditEventEntity[] = [];
  if (rec.query !== undefined) {
    entity.push({
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '24', display: 'Query' },
      description: `${rec.type} search`,
      query: Buffer.from(rec.query, 'utf8').toString('base64'),
    });
  }
  const seen = new Set<string>();
  const addEntity = (ref: string, role: { code: string; display: string }) => {
    if (seen.has(ref) || entity.length >= ENTITY_LIMIT) return;
    seen.add(ref);
    entity.push({
      what: { reference: ref },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: ref.startsWith('Patient/') ? '1' : '2' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', ...role },
    });
  };
  for (const r of rec.resources) {
    for (const p of patientRefs(r)) addEntity(p, { code: '1', display: 'Patient' });
  }
  for (const r of rec.resources) if (r.id) addEntity(`${r.resourceType}/${r.id}`, { code: '4', display: 'Domain Resource' });
  const ev: AuditEvent = {
    resourceType: 'AuditEvent',
    id: randomUUID(),
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: rec.interaction }],
    action: ACTION[rec.interaction],
    recorded: now.toISOString(),
    outcome: rec.outcome ?? '0',
    agent: [
      {
        who: { identifier: { system: 'urn:hl7-engine:user-id', value: rec.userId } },
        ...(rec.clientId ? { altId: rec.clientId } : {}),
        requestor: true,
        ...(rec.address ? { network: { address: rec.address, type: '2' as const } } : {}),
      },
    ],
    source: {
      observer: { display: 'hl7-engine FHIR API' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    ...(entity.length > 0 ? { entity } : {}),
  };
  if (rec.requestId) ev.meta = { tag: [{ system: 'urn:hl7-engine:request-id', code: rec.requestId }] };
  return ev;
}

export class AuditLog implements AuditTrail {
  private queue: { tenant: string; event: AuditEvent }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  /** Events written / lost since start (exposed for metrics and tests). */
  written = 0;
  lost = 0;

  constructor(private readonly sink: AuditSink) {}

  /** Queues an AuditEvent; resolves at once unless the queue is full (then when there is room). */
  async record(rec: AuditRecord): Promise<void> {
    while (this.queue.length >= MAX_QUEUE) await new Promise<void>((r) => this.waiters.push(r));
    this.queue.push({ tenant: rec.tenant, event: buildAuditEvent(rec) });
    if (this.queue.length >= BATCH_SIZE) this.kick();
    else if (!this.timer) this.timer = setTimeout(() => this.kick(), FLUSH_MS);
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.running) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, BATCH_SIZE);
      const ws = this.waiters.splice(0);
      ws.forEach((w) => w());
      const byTenant = new Map<string, AuditEvent[]>();
      for (const { tenant, event } of batch) {
        const list = byTenant.get(tenant);
        if (list) list.push(event);
        else byTenant.set(tenant, [event]);
      }
      for (let attempt = 1; ; attempt++) {
        try {
          // AuditEvents are written once and never updated (not writable through the API), so version 1 lives only in the
          // current document: vread and _history read it from there, and each event costs one document less.
          for (const [tenant, events] of byTenant) {
            await this.sink(tenant).bulkLoad(events, { validate: true, history: false, skipExisting: true });
            byTenant.delete(tenant);
            this.written += events.length;
          }
          break;
        } catch (err) {
          if (attempt >= MAX_ATTEMPTS) {
            const lost = [...byTenant.values()].reduce((n, l) => n + l.length, 0);
            this.lost += lost;
            rootLogger().error({ err: { message: (err as Error).message }, lost }, 'AuditEvents could not be written');
            break;
          }
          rootLogger().warn({ err: { message: (err as Error).message }, attempt }, 'AuditEvent batch failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5_000)));
        }
      }
    }
  }

  /** Writes everything queued so far. */
  async flush(): Promise<void> {
    for (let i = 0; i < 1000 && (this.queue.length > 0 || this.running); i++) {
      this.kick();
      await this.running;
    }
  }
}
