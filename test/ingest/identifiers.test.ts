import { expect } from 'chai';
import { isValidOrganisationNumber, normaliseIntegerId, validatePersonNumber } from '../../src/lib/identifiers/norwegian-ids.js';

const W1 = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

/** Appends check digits to 9 digits; `remainder` 0 = classic rule, 1-3 = the 2032 rule's other accepted remainders. */
function withCheckDigits(nine: string, remainder = 0): string | undefined {
  const d = [...nine].map(Number);
  const s = W1.reduce((a, w, i) => a + w * d[i], 0);
  const k1 = (((remainder - s) % 11) + 11) % 11;
  if (k1 === 10) return undefined;
  const d10 = [...d, k1];
  const r2 = 11 - (W2.reduce((a, w, i) => a + w * d10[i], 0) % 11);
  const k2 = r2 === 11 ? 0 : r2;
  if (k2 === 10) return undefined;
  return `${nine}${k1}${k2}`;
}

function firstValid(prefix: string, remainder = 0): string {
  for (let i = 0; i < 1000; i++) {
    const n = withCheckDigits(`${prefix}${String(i).padStart(3, '0')}`, remainder);
    if (n) return n;
  }
  throw new Error('no number found');
}

describe('Norwegian identifier check digits (NOTES §5)', () => {
  it('accepts the sample patients and derives birth date and sex', () => {
    expect(validatePersonNumber('13116900216')).to.include({ valid: true, kind: 'FNR', birthDate: '1969-11-13', sex: 'female' });
    expect(validatePersonNumber('21016400952')).to.include({ valid: true, kind: 'FNR', birthDate: '1964-01-21', sex: 'male' });
    expect(validatePersonNumber('31129956715')).to.include({ valid: true, kind: 'FNR' });
  });

  it('refuses wrong check digits, wrong length, letters and impossible dates', () => {
    expect(validatePersonNumber('13116900217')).to.deep.equal({ valid: false, reason: 'check_digit' });
    expect(validatePersonNumber('1311690021')).to.deep.equal({ valid: false, reason: 'format' });
    expect(validatePersonNumber('1311690021a')).to.deep.equal({ valid: false, reason: 'format' });
    const feb30 = firstValid('300269');
    expect(validatePersonNumber(feb30)).to.deep.equal({ valid: false, reason: 'date' });
  });

  it('accepts D-numbers (day + 40) and H-numbers (month + 40)', () => {
    const dnr = firstValid('531169');
    expect(validatePersonNumber(dnr)).to.include({ valid: true, kind: 'DNR', birthDate: '1969-11-13' });
    const hnr = firstValid('135169');
    expect(validatePersonNumber(hnr)).to.include({ valid: true, kind: 'HNR' });
  });

  it('accepts the 2032 rule: first control remainder 1, 2 or 3, century then unknown', () => {
    for (const remainder of [1, 2, 3]) {
      const n = firstValid('010132', remainder);
      const r = validatePersonNumber(n);
      expect(r, n).to.include({ valid: true, post2032: true });
      expect(r).not.to.have.property('birthDate');
    }
    const four = withCheckDigits('010132500', 4) ?? withCheckDigits('010132501', 4)!;
    expect(validatePersonNumber(four).valid).to.equal(false);
  });

  it('checks organisation numbers with mod 11 (the sample 999888777 fails: warn only)', () => {
    expect(isValidOrganisationNumber('974744570')).to.equal(true);
    expect(isValidOrganisationNumber('999888777')).to.equal(false);
    expect(isValidOrganisationNumber('97474457')).to.equal(false);
  });

  it('compares HPR numbers and HER-ids as integers', () => {
    expect(normaliseIntegerId('009144897')).to.equal('9144897');
    expect(normaliseIntegerId('0')).to.equal('0');
  });
});
