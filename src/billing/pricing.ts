/**
 * Which deal prices a consultation and what its line costs.
 *
 * The deal: among the deals of the consultation's tenant for its insurer (the referral partner organization), those
 * valid on the UTC day the consultation was created (valid_from ≤ day ≤ valid_to); the one with the latest valid_from
 * wins (a new price is a new deal from a later date), ties by deal id. A follow-up is priced by the deal of the line
 * it follows, and only when that deal has `follow_up_covered` and is still valid on the day of the follow-up.
 *
 * The discount: the first rule whose `applies_to` is the line's kind or `any`; a percentage is rounded half up to
 * the minor unit (money.ts), a fixed amount is capped at the unit price.
 */
import type { Deal, DiscountRule } from '../registries/types.js';
import { percentOf, toBasisPoints, toMinor, type Amounts } from '../lib/money.js';

export type LineKind = 'consultation' | 'follow_up';

/** The narrow view of the deals registry billing reads. */
export interface DealSource {
  dealsOf(tenant: string, insurerOrganizationId: string): Promise<Deal[]>;
  deal(id: string): Promise<Deal | undefined>;
}

export function isValidOn(deal: Deal, day: string): boolean {
  return deal.valid_from <= day && (deal.valid_to === undefined || day <= deal.valid_to);
}

export function chooseDeal(deals: Deal[], at: Date): Deal | undefined {
  const day = at.toISOString().slice(0, 10);
  return deals
    .filter((d) => isValidOn(d, day))
    .sort((a, b) => (a.valid_from === b.valid_from ? a.id.localeCompare(b.id) : b.valid_from.localeCompare(a.valid_from)))[0];
}

interface Price extends Amounts {
  unit_price_minor: number;
  discount_rule: DiscountRule | null;
}

export function priceLine(deal: Deal, kind: LineKind): Price {
  const gross = toMinor(deal.unit_price);
  const rule = (deal.discount_rules ?? []).find((r) => r.applies_to === kind || r.applies_to === 'any') ?? null;
  let discount = 0;
  if (rule?.percent !== undefined) discount = percentOf(gross, toBasisPoints(rule.percent));
  else if (rule?.amount !== undefined) discount = Math.min(toMinor(rule.amount), gross);
  return { unit_price_minor: gross, gross_minor: gross, discount_minor: discount, net_minor: gross - discount, discount_rule: rule };
}
