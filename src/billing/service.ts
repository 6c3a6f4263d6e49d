/**
 * Orders for insurers (ConsultationBilling, called by the consultation service):
 *   - a created consultation whose insurer has a valid deal gets a line on the order of that insurer, currency and
 *     month: unit price and discount from the deal (pricing.ts), kept as priced;
 *   - a consultation cancelled before it started gets a credit line (the negated amounts) on the same order;
 *   - the order totals are the sums of its lines (money.ts), recalculated whenever they are read or written to FHIR.
 * Orders, lines and credits are each created by one unique `_id` insert (a duplicate key means it exists already),
 * so repeats and concurrent calls create each exactly once. The FHIR resources (fhir.ts) are written after the
 * lines; a failure is logged and the next call for the consultation writes them again.
 *
 * The Invoice lists every line of its order, so writing it costs O(lines) (and a FHIR version each time): it is not
 * written on the request path. A line change marks its order in `billing_invoices_pending` (unique insert); the
 * invoice writer (every INVOICE_FLUSH_MS, on every instance) takes a mark by deleting it, then writes the Invoice from
 * the lines read after the delete, so a line added meanwhile marks the order again and is never left out. A failed
 * write puts the mark back.
 */
import { createHash } from 'node:crypto';
import type ExcelJS from 'exceljs';
import type { Collection, Db } from 'mongodb';
import type { BillableConsultation, ConsultationBilling } from './consultation-billing.js';
import type { FhirStore } from '../fhir-store/ports.js';
import { isDuplicateKey, type CollectionSpec } from '../platform/db/mongo.js';
import { log } from '../platform/logging/logger.js';
import type { Deal } from '../registries/types.js';
import { buildAccount, buildChargeItem, buildCoverage, buildInsurer, buildInvoice, sameInvoice, upsert } from './fhir.js';
import { sumAmounts } from '../lib/money.js';
import { addOrdersSheet } from './report-sheet.js';
import { chooseDeal, isValidOn, priceLine, type DealSource, type LineKind } from './pricing.js';
import type { LineDoc, OrderDoc, OrderWithLines } from './types.js';

const ORDERS_COLLECTION = 'billing_orders';
const LINES_COLLECTION = 'billing_order_lines';
const INVOICES_PENDING_COLLECTION = 'billing_invoices_pending';
/** How often the invoice writer looks for orders whose Invoice is behind their lines. */
const INVOICE_FLUSH_MS = 1_000;

export const billingCollectionSpecs: CollectionSpec[] = [
  { name: ORDERS_COLLECTION, indexes: [{ key: { tenant: 1, period: 1 }, name: 'tenant_period' }] },
  {
    name: LINES_COLLECTION,
    indexes: [
      { key: { order_id: 1, created_at: 1 }, name: 'order' },
      { key: { consultation_id: 1 }, name: 'consultation' },
    ],
  },
  { name: INVOICES_PENDING_COLLECTION, indexes: [] },
];

interface PendingInvoice {
  _id: string;
  tenant: string;
  at: Date;
}

interface BillingDeps {
  db: Db;
  deals: DealSource;
  fhir: { forTenant(tenant: string): FhirStore };
  now?: () => Date;
}

const lineIdOf = (consultationId: string) => `li-${consultationId}`;
const creditIdOf = (consultationId: string) => `cr-${consultationId}`;

function orderIdOf(tenant: string, insurer: string, currency: string, period: string): string {
  return `ord-${createHash('sha256').update([tenant, insurer, currency, period].join('\u0000')).digest('hex').slice(0, 40)}`;
}

export class BillingService implements ConsultationBilling {
  readonly orders: Collection<OrderDoc>;
  readonly lines: Collection<LineDoc>;
  private readonly pending: Collection<PendingInvoice>;
  private readonly now: () => Date;
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<number>;

  constructor(private readonly deps: BillingDeps) {
    this.orders = deps.db.collection<OrderDoc>(ORDERS_COLLECTION);
    this.lines = deps.db.collection<LineDoc>(LINES_COLLECTION);
    this.pending = deps.db.collection<PendingInvoice>(INVOICES_PENDING_COLLECTION);
    this.now = deps.now ?? (() => new Date());
  }

  /** Starts the invoice writer. */
  start(everyMs = INVOICE_FLUSH_MS): void {
    this.timer ??= setInterval(() => void this.flushInvoices(), everyMs);
    this.timer.unref();
  }

  /** Stops the invoice writer after the running pass. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flushing;
  }

  /** Writes the Invoices of the marked orders (one pass; at most `limit`). Returns how many were written. */
  flushInvoices(limit = 100): Promise<number> {
    this.flushing ??= (async () => {
      let n = 0;
      try {
        for (const mark of await this.pending.find({}).limit(limit).toArray()) {
          if ((await this.pending.deleteOne({ _id: mark._id })).deletedCount !== 1) continue; // another instance took it
          try {
            await this.writeInvoice(mark._id);
            n++;
          } catch (err) {
            log().error({ orderId: mark._id, err: { message: (err as Error).message } }, 'writing an Invoice failed; will retry');
            await this.insertOnce(this.pending, mark);
          }
        }
      } catch (err) {
        log().error({ err: { message: (err as Error).message } }, 'the invoice writer failed; will retry');
      } finally {
        this.flushing = undefined;
      }
      return n;
    })();
    return this.flushing;
  }

  private async writeInvoice(orderId: string): Promise<void> {
    const order = await this.orders.findOne({ _id: orderId });
    if (!order) return;
    const invoice = buildInvoice(order, await this.linesOf(orderId), this.now());
    await upsert(this.deps.fhir.forTenant(order.tenant), invoice, sameInvoice(invoice));
  }

  async consultationCreated(doc: BillableConsultation): Promise<void> {
    let line = await this.lines.findOne({ _id: lineIdOf(doc._id) });
    let deal: Deal | undefined;
    if (line) {
      deal = await this.deps.deals.deal(line.deal_id);
    } else {
      const kind: LineKind = doc.follow_up_of ? 'follow_up' : 'consultation';
      deal = await this.dealFor(doc, kind);
      if (!deal) return;
      line = await this.addLine(doc, deal, kind);
    }
    await this.writeFhir(line, deal);
  }

  async consultationCancelled(doc: BillableConsultation): Promise<void> {
    if (doc.starts_at) return; // started: the consultation is charged
    const line = await this.lines.findOne({ _id: lineIdOf(doc._id) });
    if (!line) return;
    const credit: LineDoc = {
      ...line,
      _id: creditIdOf(doc._id),
      kind: 'credit',
      credits: line._id,
      gross_minor: -line.gross_minor,
      discount_minor: -line.discount_minor,
      net_minor: -line.net_minor,
      reason: doc.cancel_reason ? `cancelled before start: ${doc.cancel_reason}` : 'cancelled before start',
      created_at: this.now(),
    };
    await this.insertOnce(this.lines, credit);
    log().info({ consultationId: doc._id, orderId: line.order_id }, 'order line credited');
    await this.writeFhir(line, await this.deps.deals.deal(line.deal_id));
  }

  /** The deal of a new line: a follow-up keeps the deal of the consultation it follows, when that deal covers it. */
  private async dealFor(doc: BillableConsultation, kind: LineKind): Promise<Deal | undefined> {
    if (kind === 'follow_up') {
      const earlier = await this.lines.findOne({ _id: lineIdOf(doc.follow_up_of!) });
      const deal = earlier ? await this.deps.deals.deal(earlier.deal_id) : undefined;
      const covers = deal?.follow_up_covered && deal.tenant === doc.tenant && isValidOn(deal, doc.created_at.toISOString().slice(0, 10));
      return covers ? deal : undefined;
    }
    if (!doc.organization_id) return undefined;
    return chooseDeal(await this.deps.deals.dealsOf(doc.tenant, doc.organization_id), doc.created_at);
  }

  private async addLine(doc: BillableConsultation, deal: Deal, kind: LineKind): Promise<LineDoc> {
    const period = doc.created_at.toISOString().slice(0, 7);
    const order: OrderDoc = {
      _id: orderIdOf(doc.tenant, deal.insurer_organization_id, deal.currency, period),
      tenant: doc.tenant,
      insurer_organization_id: deal.insurer_organization_id,
      currency: deal.currency,
      period,
      created_at: this.now(),
    };
    await this.insertOnce(this.orders, order);
    const price = priceLine(deal, kind);
    const line: LineDoc = {
      _id: lineIdOf(doc._id),
      tenant: doc.tenant,
      order_id: order._id,
      kind,
      credits: null,
      consultation_id: doc._id,
      encounter_id: doc.encounter_id,
      patient_id: doc.patient_id,
      follow_up_of: doc.follow_up_of ?? null,
      deal_id: deal.id,
      deal_version: (deal as Deal & { updated_at?: Date }).updated_at?.toISOString() ?? null,
      service: deal.service,
      currency: deal.currency,
      quantity: 1,
      ...price,
      reason: null,
      created_at: this.now(),
    };
    if (!(await this.insertOnce(this.lines, line))) return (await this.lines.findOne({ _id: line._id }))!;
    log().info({ consultationId: doc._id, orderId: order._id, kind }, 'order line created');
    return line;
  }

  /** Inserts `doc`; false when a document with its `_id` exists already. */
  private async insertOnce<T extends { _id: string }>(coll: Collection<T>, doc: T): Promise<boolean> {
    try {
      await coll.insertOne(doc as never);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /** Writes the insurer, Account, Coverage and the line's ChargeItem, and marks the order's Invoice for the writer. */
  private async writeFhir(line: LineDoc, deal: Deal | undefined): Promise<void> {
    await this.insertOnce(this.pending, { _id: line.order_id, tenant: line.tenant, at: this.now() });
    const fhir = this.deps.fhir.forTenant(line.tenant);
    try {
      if (deal) {
        await upsert(fhir, buildInsurer(deal), () => true);
        await upsert(fhir, buildAccount(deal));
        await upsert(fhir, buildCoverage(deal, line.patient_id));
      }
      const credited = (await this.lines.findOne({ _id: creditIdOf(line.consultation_id) })) !== null;
      await upsert(fhir, buildChargeItem(line, credited));
    } catch (err) {
      log().error({ consultationId: line.consultation_id, err: { message: (err as Error).message } }, 'writing the FHIR form of an order line failed');
    }
  }

  private linesOf(orderId: string): Promise<LineDoc[]> {
    return this.lines.find({ order_id: orderId }).sort({ created_at: 1, _id: 1 }).toArray();
  }

  /** The order with its lines and the totals recalculated from them. */
  private async withLines(order: OrderDoc): Promise<OrderWithLines> {
    const lines = await this.linesOf(order._id);
    return { order, lines, totals: sumAmounts(lines) };
  }

  // ---- reads --------------------------------------------------------------------------------------------------

  /** An order of `tenant` with its lines and recalculated totals; another tenant's is not found. */
  async order(id: string, tenant: string): Promise<OrderWithLines | undefined> {
    const order = await this.orders.findOne({ _id: id });
    return order && order.tenant === tenant ? this.withLines(order) : undefined;
  }

  async list(filter: { tenant: string; insurer?: string; period?: string; consultationId?: string; limit: number; offset: number }): Promise<{ orders: OrderWithLines[]; total: number }> {
    const q: Record<string, unknown> = { tenant: filter.tenant };
    if (filter.insurer) q.insurer_organization_id = filter.insurer;
    if (filter.period) q.period = filter.period;
    if (filter.consultationId) {
      const ids = await this.lines.distinct('order_id', { tenant: filter.tenant, consultation_id: filter.consultationId });
      q._id = { $in: ids };
    }
    const [docs, total] = await Promise.all([
      this.orders.find(q).sort({ period: 1, _id: 1 }).skip(filter.offset).limit(filter.limit).toArray(),
      this.orders.countDocuments(q),
    ]);
    return { orders: await Promise.all(docs.map((order) => this.withLines(order))), total };
  }

  /** Orders of `tenant` whose month overlaps [from, to), optionally of one insurer (the insurer report). */
  async ordersInRange(tenant: string, from: Date, to: Date, insurer?: string | null): Promise<OrderWithLines[]> {
    const first = from.toISOString().slice(0, 7);
    const last = new Date(to.getTime() - 1).toISOString().slice(0, 7);
    const q: Record<string, unknown> = { tenant, period: { $gte: first, $lte: last } };
    if (insurer) q.insurer_organization_id = insurer;
    const out: OrderWithLines[] = [];
    for (const order of await this.orders.find(q).sort({ period: 1, insurer_organization_id: 1, _id: 1 }).toArray()) out.push(await this.withLines(order));
    return out;
  }

  /** The Orders sheet of an insurer report of `tenant` (none without a tenant: a report never mixes legal entities). */
  async addOrdersSheet(wb: ExcelJS.Workbook, tenant: string | null, from: Date, to: Date, insurer: string | null): Promise<void> {
    addOrdersSheet(wb, tenant ? await this.ordersInRange(tenant, from, to, insurer) : []);
  }
}
