import { expect } from 'chai';
import { formatMinor, percentOf, sumAmounts, toBasisPoints, toMinor } from '../../src/lib/money.js';
import { priceLine } from '../../src/billing/pricing.js';
import type { Deal } from '../../src/registries/types.js';

describe('billing: money in minor units', () => {
  it('parses decimal strings digit by digit and formats them back', () => {
    expect(toMinor('450')).to.equal(45000);
    expect(toMinor('0.1')).to.equal(10);
    expect(toMinor('999999999.99')).to.equal(99999999999);
    expect(() => toMinor('1.005')).to.throw(RangeError);
    expect(toBasisPoints('12.5')).to.equal(1250);
    expect(toBasisPoints('100')).to.equal(10000);
    expect(formatMinor(39374)).to.equal('393.74');
    expect(formatMinor(-5)).to.equal('-0.05');
  });

  it('rounds a percentage discount half up to the minor unit', () => {
    expect(percentOf(44999, 1250)).to.equal(5625); // 5624.875
    expect(percentOf(1, 5000)).to.equal(1); // 0.5 → 1
    expect(percentOf(3, 3333)).to.equal(1); // 0.9999
    expect(percentOf(10, 1)).to.equal(0); // 0.001
  });

  it('sums lines exactly where binary floats drift', () => {
    const line = { gross_minor: 10, discount_minor: 0, net_minor: 10 }; // 0.10
    const total = sumAmounts(Array.from({ length: 3 }, () => line));
    expect(formatMinor(total.net_minor)).to.equal('0.30');
    expect(0.1 + 0.1 + 0.1).not.to.equal(0.3);
  });

  it('caps a fixed discount at the unit price', () => {
    const deal = { unit_price: '10.00', discount_rules: [{ applies_to: 'any', amount: '15' }] } as Deal;
    expect(priceLine(deal, 'consultation')).to.include({ gross_minor: 1000, discount_minor: 1000, net_minor: 0 });
  });
});
