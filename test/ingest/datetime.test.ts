import { expect } from 'chai';
import { fhirDateTime } from '../../src/mapping/functions.js';

describe('fhirDateTime (zone-less values are Europe/Oslo time)', () => {
  it('gives the winter or summer offset on both sides of the transitions (offsets are cached per UTC hour)', () => {
    const cases: [string, string][] = [
      ['2024-01-15T12:00:00', '2024-01-15T12:00:00+01:00'],
      ['2024-07-01T12:00:00', '2024-07-01T12:00:00+02:00'],
      ['2024-03-31T01:59:00', '2024-03-31T01:59:00+01:00'],
      ['2024-03-31T03:00:00', '2024-03-31T03:00:00+02:00'],
      ['2024-10-27T01:30:00', '2024-10-27T01:30:00+02:00'],
      ['2024-10-27T03:30:00', '2024-10-27T03:30:00+01:00'],
      ['2024-10-27T04:00:00.1234567', '2024-10-27T04:00:00.123+01:00'],
    ];
    // twice: the second round is answered from the cache
    for (let round = 0; round < 2; round++) {
      for (const [input, expected] of cases) expect(fhirDateTime(input), input).to.equal(expected);
    }
    expect(fhirDateTime('2024-07-01T12:00:00Z')).to.equal('2024-07-01T12:00:00Z');
  });
});
