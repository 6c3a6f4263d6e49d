/** The API representation of an order: amounts as decimal strings (never floats) and in minor units. */
import { formatMinor, type Amounts } from '../lib/money.js';
import type { LineDoc, OrderWithLines } from './types.js';

function amounts(a: Amounts) {
  return {
    gross: formatMinor(a.gross_minor),
    discount: formatMinor(a.discount_minor),
    net: formatMinor(a.net_minor),
    gross_minor: a.gross_minor,
    discount_minor: a.discount_minor,
    net_minor: a.net_minor,
  };
}

function lineView(l: LineDoc) {
  return {
    id: l._id,
    kind: l.kind,
    credits: l.credits,
    consultation_id: l.consultation_id,
    follow_up_of: l.follow_up_of,
    deal_id: l.deal_id,
    service: l.service,
    quantity: l.quantity,
    unit_price: formatMinor(l.unit_price_minor),
    discount_rule: l.discount_rule,
    ...amounts(l),
    reason: l.reason,
    created_at: l.created_at.toISOString(),
    fhir: l.kind === 'credit' ? null : { charge_item: `ChargeItem/${l._id}` },
  };
}

export function orderView({ order, lines, totals }: OrderWithLines) {
  return {
    id: order._id,
    insurer_organization_id: order.insurer_organization_id,
    period: order.period,
    currency: order.currency,
    created_at: order.created_at.toISOString(),
    totals: amounts(totals),
    lines: lines.map(lineView),
    fhir: { invoice: `Invoice/${order._id}`, recipient: `Organization/${order.insurer_organization_id}` },
  };
}
