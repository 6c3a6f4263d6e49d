/**
 * Comparing the DRFO (tax id) in a signer's certificate with the user's party tax_id, the way the eHealth services do
 * (the Medical Events service of ehealth-ua, Signature.validate_drfo): spaces removed from the certificate value;
 * equal, or equal after transliteration and upper-casing (passport numbers are written in Cyrillic in one place and
 * in Latin in the other).
 *
 * Besides the Ukrainian national transliteration (KMU 2010, e.g. В→V), Cyrillic letters are also folded to the Latin
 * letters they look like (В→B, Н→H, Р→P, С→C, Х→X, ...): passport series are typed both ways in practice.
 */

const TRANSLIT: Record<string, string> = {
  А: 'A', Б: 'B', В: 'V', Г: 'H', Ґ: 'G', Д: 'D', Е: 'E', Є: 'YE', Ж: 'ZH', З: 'Z', И: 'Y', І: 'I', Ї: 'YI', Й: 'Y',
  К: 'K', Л: 'L', М: 'M', Н: 'N', О: 'O', П: 'P', Р: 'R', С: 'S', Т: 'T', У: 'U', Ф: 'F', Х: 'KH', Ц: 'TS', Ч: 'CH',
  Ш: 'SH', Щ: 'SHCH', Ь: '', Ю: 'YU', Я: 'YA', Ъ: '', Ы: 'Y', Э: 'E', Ё: 'YO', 'ʼ': '', "'": '', '’': '',
};

const LOOKALIKE: Record<string, string> = {
  А: 'A', В: 'B', Е: 'E', Є: 'E', К: 'K', М: 'M', Н: 'H', І: 'I', Ї: 'I', О: 'O', Р: 'P', С: 'C', Т: 'T', У: 'Y', Х: 'X',
};

const map = (s: string, table: Record<string, string>) => [...s.toUpperCase()].map((ch) => table[ch] ?? ch).join('');

/** Normalised forms of a tax id: as is, transliterated, look-alike folded (all upper-case, no spaces). */
export function taxIdForms(value: string): Set<string> {
  const compact = value.replace(/\s+/g, '').toUpperCase();
  return new Set([compact, map(compact, TRANSLIT), map(compact, LOOKALIKE)]);
}

/** The DRFO as certificates carry it: "TINUA-1234567890" (subject serialNumber convention) → "1234567890". */
export function certificateTaxId(raw: string): string {
  return raw.replace(/\s+/g, '').replace(/^(TINUA|UA|DRFO|RNOKPP)-/i, '');
}

export function taxIdsMatch(certificateValue: string, partyTaxId: string): boolean {
  const a = taxIdForms(certificateTaxId(certificateValue));
  const b = taxIdForms(partyTaxId);
  for (const x of a) if (x !== '' && b.has(x)) return true;
  return false;
}
