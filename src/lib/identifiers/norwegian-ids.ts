/**
 * Check digits of Norwegian identifiers (Skatteetaten, Brønnøysundregistrene).
 *
 * - Fødselsnummer (FNR) `DDMMYY III K1 K2`, D-nummer (day + 40), H-nummer (month + 40) and the synthetic Tenor test
 *   numbers (month + 80) share the check digits. From 2032 the first check digit may leave a remainder of 0, 1, 2
 *   or 3 (Skatteetaten; navikt/fnrvalidator): both forms are accepted. K2 is unchanged.
 * - Organisasjonsnummer: 9 digits, weights 3 2 7 6 5 4 3 2, mod 11 (callers only warn on failure).
 *
 * Pure functions, no I/O; the numbers are never logged by this module.
 */

export type PersonIdKind = 'FNR' | 'DNR' | 'HNR' | 'TEST';

export type PersonIdResult =
  | { valid: true; kind: PersonIdKind; /** ISO date when it can be derived (pre-2032 rules), else undefined */ birthDate?: string; /** pre-2032 numbers only */ sex?: 'male' | 'female'; post2032: boolean }
  | { valid: false; reason: 'format' | 'date' | 'check_digit' };

const W1 = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

function digits(s: string): number[] {
  return Array.from(s, (c) => c.charCodeAt(0) - 48);
}

function weightedSum(d: number[], w: number[]): number {
  let sum = 0;
  for (let i = 0; i < w.length; i++) sum += d[i] * w[i];
  return sum;
}

/** Century from the individual number (pre-2032 rules); undefined when the combination is not allocated. */
function century(individual: number, yy: number): number | undefined {
  if (individual <= 499) return 1900;
  if (individual <= 749 && yy >= 55) return 1800;
  if (individual >= 500 && yy < 40) return 2000;
  if (individual >= 900 && yy >= 40) return 1900;
  return undefined;
}

function isValidDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return d <= days;
}

/**
 * Validates an 11-digit person number (FNR, D-nummer, H-nummer or synthetic test number).
 * The date part must be a real day (any century when the century cannot be derived); check digits as above.
 */
export function validatePersonNumber(value: string): PersonIdResult {
  if (!/^\d{11}$/.test(value)) return { valid: false, reason: 'format' };
  const d = digits(value);
  let day = d[0] * 10 + d[1];
  let month = d[2] * 10 + d[3];
  const yy = d[4] * 10 + d[5];
  let kind: PersonIdKind = 'FNR';
  if (day > 40) {
    kind = 'DNR';
    day -= 40;
  }
  if (month > 80) {
    if (kind === 'DNR') return { valid: false, reason: 'date' };
    kind = 'TEST';
    month -= 80;
  } else if (month > 40) {
    if (kind === 'DNR') return { valid: false, reason: 'date' };
    kind = 'HNR';
    month -= 40;
  }

  // First control digit: classic rule (remainder 0) or the 2032 rule (remainder 0..3 over d1..d9 and K1).
  const k1 = d[9];
  const k2 = d[10];
  const s1 = (weightedSum(d, W1) + k1) % 11;
  const post2032 = s1 !== 0;
  if (s1 > 3) return { valid: false, reason: 'check_digit' };
  const r2 = 11 - (weightedSum(d, W2) % 11);
  const expectedK2 = r2 === 11 ? 0 : r2;
  if (expectedK2 === 10 || expectedK2 !== k2) return { valid: false, reason: 'check_digit' };

  const individual = d[6] * 100 + d[7] * 10 + d[8];
  if (!post2032) {
    const c = century(individual, yy);
    if (c !== undefined) {
      const year = c + yy;
      if (!isValidDate(year, month, day)) return { valid: false, reason: 'date' };
      const birthDate = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
      return { valid: true, kind, birthDate, sex: d[8] % 2 === 1 ? 'male' : 'female', post2032 };
    }
  }
  // Century not derivable (2032 numbers, or an unallocated individual range): the day must exist in some year.
  if (!isValidDate(2000, month, day)) return { valid: false, reason: 'date' };
  return { valid: true, kind, post2032 };
}

/** Organisasjonsnummer mod-11 check (9 digits). */
export function isValidOrganisationNumber(value: string): boolean {
  if (!/^\d{9}$/.test(value)) return false;
  const d = digits(value);
  const w = [3, 2, 7, 6, 5, 4, 3, 2];
  const r = 11 - (weightedSum(d, w) % 11);
  const k = r === 11 ? 0 : r;
  return k !== 10 && k === d[8];
}

/** HPR-nummer and HER-id have no check digit; they compare as integers (`009144897` = `9144897`). */
export function normaliseIntegerId(value: string): string {
  const t = value.trim();
  if (!/^\d+$/.test(t)) return t;
  const n = t.replace(/^0+(?=\d)/, '');
  return n;
}
