/**
 * Orders and their lines as stored. Both are append-only: an order is created once (unique `_id` derived from tenant,
 * insurer, currency and period), a line once per consultation (`li-<consultation id>`), a credit once per line
 * (`cr-<consultation id>`, negative amounts). Exactly-once rests on the unique `_id` insert alone (FerretDB has no
 * atomic read-modify-write); the totals are recalculated from the lines whenever they are shown.
 */
import type { DiscountRule } from '../registries/types.js';
import type { Amounts, Currency } from '../lib/money.js';
import type { LineKind } from './pricing.js';

export interface OrderDoc {
  _id: string;
  tenant: string;
  /** The customer: the insurer organization (FHIR Organization id). */
  insurer_organization_id: string;
  currency: Currency;
  /** Calendar month (UTC) of the consultations it holds, YYYY-MM. */
  period: string;
  created_at: Date;
}

export interface LineDoc {
  _id: string;
  tenant: string;
  order_id: string;
  kind: LineKind | 'credit';
  /** Credit lines: the line they cancel. */
  credits: string | null;
  consultation_id: string;
  encounter_id: string;
  patient_id: string;
  /** Follow-ups: the consultation followed. */
  follow_up_of: string | null;
  deal_id: string;
  /** The deal record's updated_at when the line was priced (the terms the line keeps). */
  deal_version: string | null;
  service: { code: string; display?: string };
  currency: Currency;
  quantity: number;
  unit_price_minor: number;
  gross_minor: number;
  discount_minor: number;
  net_minor: number;
  discount_rule: DiscountRule | null;
  reason: string | null;
  created_at: Date;
}

/** An order with its lines and the totals recalculated from them. */
export interface OrderWithLines {
  order: OrderDoc;
  lines: LineDoc[];
  totals: Amounts;
}
