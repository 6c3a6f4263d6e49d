/**
 * Money as integer minor units (øre, cent): every amount the engine stores or sums is a safe integer, never a binary
 * float. Decimal strings from deals ("450.00", "12.5" %) are parsed digit by digit.
 *
 * Rounding rule: a percentage discount is computed per line as unit price × percent / 100 and rounded to the minor
 * unit half up (0.5 øre → 1 øre; amounts are never negative before a credit). Order totals are plain sums of the
 * lines' rounded amounts, so a total always equals the sum of the lines shown for it.
 */

/** The currencies deals may use, all with two minor digits. */
export const CURRENCIES = ['NOK', 'SEK', 'DKK', 'EUR', 'USD', 'GBP'] as const;
export type Currency = (typeof CURRENCIES)[number];
const MINOR_DIGITS = 2;

/** A non-negative amount with at most two decimals ("450", "450.5", "450.50"). */
export const AMOUNT_PATTERN = '^(0|[1-9][0-9]{0,8})(\\.[0-9]{1,2})?$';
/** A percentage from 0 to 100 with at most two decimals. */
export const PERCENT_PATTERN = '^(100(\\.0{1,2})?|[0-9]{1,2}(\\.[0-9]{1,2})?)$';

function parseFixed(value: string, digits: number, pattern: string): number {
  if (!new RegExp(pattern).test(value)) throw new RangeError(`not a valid decimal: ${value}`);
  const [whole, fraction = ''] = value.split('.');
  return Number(whole) * 10 ** digits + Number(fraction.padEnd(digits, '0'));
}

/** "450.5" → 45050. */
export function toMinor(amount: string): number {
  return parseFixed(amount, MINOR_DIGITS, AMOUNT_PATTERN);
}

/** "12.5" (%) → 1250 basis points. */
export function toBasisPoints(percent: string): number {
  return parseFixed(percent, 2, PERCENT_PATTERN);
}

/** 45050 → "450.50"; -100 → "-1.00". */
export function formatMinor(minor: number): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  const unit = 10 ** MINOR_DIGITS;
  return `${sign}${Math.floor(abs / unit)}.${String(abs % unit).padStart(MINOR_DIGITS, '0')}`;
}

/** A minor amount as a JSON/FHIR decimal number (45050 → 450.5): the nearest double prints as the exact decimal. */
export function minorToNumber(minor: number): number {
  return minor / 10 ** MINOR_DIGITS;
}

/** `gross` × `basisPoints` / 10 000, rounded half up to the minor unit (integers only). */
export function percentOf(gross: number, basisPoints: number): number {
  return Math.floor((gross * basisPoints + 5_000) / 10_000);
}

export interface Amounts {
  gross_minor: number;
  discount_minor: number;
  net_minor: number;
}

/** The order recalculator: totals are sums of the lines' (already rounded) amounts. */
export function sumAmounts(lines: Amounts[]): Amounts {
  const total: Amounts = { gross_minor: 0, discount_minor: 0, net_minor: 0 };
  for (const l of lines) {
    total.gross_minor += l.gross_minor;
    total.discount_minor += l.discount_minor;
    total.net_minor += l.net_minor;
  }
  return total;
}
