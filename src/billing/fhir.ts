/**
 * The FHIR form of deals, orders and lines, in the tenant's FHIR repository:
 *   - Account per deal (identifier = deal id, guarantor = the insurer Organization, servicePeriod = validity);
 *   - Coverage per patient and deal (payor = insurer, beneficiary = Patient, the deal's policy number as identifier
 *     and as the `group` class);
 *   - ChargeItem per line (context = the consultation's Encounter, priceOverride = the net price, the discount named
 *     in overrideReason; `not-billable` once credited);
 *   - Invoice per order (recipient = insurer; one lineItem per billable line with the base price and the discount as
 *     price components, the discount as a negative amount so the components add up to the net; totalNet =
 *     totalGross = the order's net total: no tax).
 * Resources are written from the order documents (the source of truth) and rewritten when they differ.
 */
import { createHash } from 'node:crypto';
import type { Account, ChargeItem, Coverage, Invoice, InvoiceLineItem, Money, Organization, Resource } from '@medplum/fhirtypes';
import { canonicalJson } from '../fhir-store/canonical-json.js';
import { fhirStatus, readOrUndefined, type FhirStore } from '../fhir-store/ports.js';
import type { Deal } from '../registries/types.js';
import { formatMinor, minorToNumber, sumAmounts } from '../lib/money.js';
import type { LineDoc, OrderDoc } from './types.js';

const DEAL_SYSTEM = 'urn:hl7-engine:deal';
const ORDER_SYSTEM = 'urn:hl7-engine:order';
const LINE_SYSTEM = 'urn:hl7-engine:order-line';
const POLICY_SYSTEM = 'urn:hl7-engine:insurance-policy';
const SERVICE_SYSTEM = 'urn:hl7-engine:billing-service';

const hashId = (prefix: string, ...parts: string[]) => `${prefix}-${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 40)}`;

const accountId = (dealId: string) => hashId('deal', dealId);
const coverageId = (dealId: string, patientId: string) => hashId('cov', dealId, patientId);

const money = (minor: number, currency: string): Money => ({ value: minorToNumber(minor), currency: currency as Money['currency'] });

export function buildAccount(deal: Deal): Account {
  return {
    resourceType: 'Account',
    id: accountId(deal.id),
    identifier: [{ system: DEAL_SYSTEM, value: deal.id }],
    status: 'active',
    name: deal.name ?? `Deal ${deal.id}`,
    servicePeriod: { start: deal.valid_from, ...(deal.valid_to ? { end: deal.valid_to } : {}) },
    guarantor: [{ party: { reference: `Organization/${deal.insurer_organization_id}` } }],
  };
}

export function buildCoverage(deal: Deal, patientId: string): Coverage {
  const policy = deal.policy_number;
  return {
    resourceType: 'Coverage',
    id: coverageId(deal.id, patientId),
    ...(policy ? { identifier: [{ system: POLICY_SYSTEM, value: policy }] } : {}),
    status: 'active',
    beneficiary: { reference: `Patient/${patientId}` },
    payor: [{ reference: `Organization/${deal.insurer_organization_id}` }],
    period: { start: deal.valid_from, ...(deal.valid_to ? { end: deal.valid_to } : {}) },
    ...(policy
      ? { class: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-class', code: 'group', display: 'Group' }] }, value: policy }] }
      : {}),
  };
}

function discountText(line: LineDoc): string {
  const rule = line.discount_rule;
  const what = rule?.percent !== undefined ? `${rule.percent} %` : `${formatMinor(line.discount_minor)} ${line.currency}`;
  return `Deal ${line.deal_id}: unit price ${formatMinor(line.unit_price_minor)} ${line.currency}, discount ${what} (${formatMinor(line.discount_minor)} ${line.currency})`;
}

export function buildChargeItem(line: LineDoc, credited: boolean): ChargeItem {
  return {
    resourceType: 'ChargeItem',
    id: line._id,
    identifier: [{ system: LINE_SYSTEM, value: line._id }],
    status: credited ? 'not-billable' : 'billable',
    code: { coding: [{ system: SERVICE_SYSTEM, code: line.service.code, ...(line.service.display ? { display: line.service.display } : {}) }] },
    subject: { reference: `Patient/${line.patient_id}` },
    context: { reference: `Encounter/${line.encounter_id}` },
    occurrenceDateTime: line.created_at.toISOString(),
    quantity: { value: line.quantity },
    priceOverride: money(line.net_minor, line.currency),
    overrideReason: discountText(line),
    enteredDate: line.created_at.toISOString(),
    account: [{ reference: `Account/${accountId(line.deal_id)}` }],
    supportingInformation: [{ reference: `Coverage/${coverageId(line.deal_id, line.patient_id)}` }],
  };
}

/** Lines not cancelled by a credit, in creation order. */
function billableLines(lines: LineDoc[]): LineDoc[] {
  const credited = new Set(lines.filter((l) => l.credits).map((l) => l.credits));
  return lines.filter((l) => l.kind !== 'credit' && !credited.has(l._id));
}

export function buildInvoice(order: OrderDoc, lines: LineDoc[], date: Date): Invoice {
  const billable = billableLines(lines);
  const total = sumAmounts(lines);
  const c = order.currency;
  const lineItem: InvoiceLineItem[] = billable.map((l, i) => ({
    sequence: i + 1,
    chargeItemReference: { reference: `ChargeItem/${l._id}` },
    priceComponent: [
      { type: 'base', amount: money(l.gross_minor, c) },
      ...(l.discount_minor > 0 ? [{ type: 'discount' as const, amount: money(-l.discount_minor, c) }] : []),
    ],
  }));
  return {
    resourceType: 'Invoice',
    id: order._id,
    identifier: [{ system: ORDER_SYSTEM, value: order._id }],
    status: 'draft',
    recipient: { reference: `Organization/${order.insurer_organization_id}` },
    date: date.toISOString(),
    ...(lineItem.length ? { lineItem } : {}),
    totalPriceComponent: [
      { type: 'base', amount: money(total.gross_minor, c) },
      { type: 'discount', amount: money(-total.discount_minor, c) },
    ],
    totalNet: money(total.net_minor, c),
    totalGross: money(total.net_minor, c),
    note: [{ text: `Insurer order for ${order.period}` }],
  };
}

export function buildInsurer(deal: Deal): Organization {
  return { resourceType: 'Organization', id: deal.insurer_organization_id, active: true, name: deal.insurer_name ?? deal.insurer_organization_id };
}

/**
 * Creates `next` or replaces the stored resource when its content differs (`same` decides, default: everything but
 * meta). If-Match on the version read; a concurrent writer makes it read and compare again.
 */
export async function upsert<T extends Resource>(fhir: FhirStore, next: T, same?: (stored: T) => boolean): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const existing = await readOrUndefined<T>(fhir, next.resourceType, next.id!);
    if (existing) {
      const { meta: _meta, ...stored } = existing;
      if (same ? same(existing) : canonicalJson(stored) === canonicalJson(next)) return;
    }
    try {
      if (existing) await fhir.update(next, { ifMatchVersion: existing.meta?.versionId });
      else await fhir.create(next, { id: next.id });
      return;
    } catch (err) {
      const status = fhirStatus(err);
      if ((status === 412 || status === 409) && attempt < 5) continue;
      throw err;
    }
  }
}

/** The Invoice says the same as `next` apart from its date. */
export function sameInvoice(next: Invoice): (stored: Invoice) => boolean {
  const strip = ({ meta: _m, date: _d, ...rest }: Invoice) => canonicalJson(rest);
  return (stored) => strip(stored) === strip(next);
}
