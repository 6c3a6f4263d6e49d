import { expect } from 'chai';
import { fhirDateTime, instantMs } from '../../src/mapping/functions.js';
import { sourceExtension } from '../../src/ingest/apply.js';

describe('fhirDateTime (zone-less values are Europe/Oslo time)', () => {
  it('gives the winter or summer offset on both sides of the transitions (offsets are cached per UTC minute)', () => {
    const cases: [string, string][] = [
      ['2024-01-15T12:00:00', '2024-01-15T12:00:00+01:00'],
      ['2024-07-01T12:00:00', '2024-07-01T12:00:00+02:00'],
      ['2024-03-31T01:59:00', '2024-03-31T01:59:00+01:00'],
      ['2024-03-31T03:00:00', '2024-03-31T03:00:00+02:00'],
      ['2024-10-27T01:30:00', '2024-10-27T01:30:00+02:00'],
      ['2024-10-27T03:30:00', '2024-10-27T03:30:00+01:00'],
      ['2024-10-27T04:00:00.1234567', '2024-10-27T04:00:00.123+01:00'],
      ['2019-01-24T13:42:21', '2019-01-24T13:42:21+01:00'],
    ];
    // twice: the second round is answered from the cache
    for (let round = 0; round < 2; round++) {
      for (const [input, expected] of cases) expect(fhirDateTime(input), input).to.equal(expected);
    }
    expect(fhirDateTime('2024-07-01T12:00:00Z')).to.equal('2024-07-01T12:00:00Z');
    expect(fhirDateTime('2024-07-01T12:00:00-03:00')).to.equal('2024-07-01T12:00:00-03:00');
  });

  it('moves a time in the spring gap forward by the gap (02:30 does not occur on 2019-03-31: it is 03:30+02:00)', () => {
    expect(fhirDateTime('2019-03-31T02:00:00')).to.equal('2019-03-31T03:00:00+02:00');
    expect(fhirDateTime('2019-03-31T02:30:00')).to.equal('2019-03-31T03:30:00+02:00');
    expect(fhirDateTime('2019-03-31T02:59:59.5')).to.equal('2019-03-31T03:59:59.500+02:00');
    expect(instantMs('2019-03-31T02:30:00')).to.equal(Date.parse('2019-03-31T01:30:00Z'));
  });

  it('takes the earlier of the two times in the autumn fold (02:30 on 2019-10-27 happens at +02:00, then at +01:00)', () => {
    expect(fhirDateTime('2019-10-27T02:00:00')).to.equal('2019-10-27T02:00:00+02:00');
    expect(fhirDateTime('2019-10-27T02:30:00')).to.equal('2019-10-27T02:30:00+02:00');
    expect(fhirDateTime('2019-10-27T02:59:59')).to.equal('2019-10-27T02:59:59+02:00');
    expect(fhirDateTime('2019-10-27T03:00:00')).to.equal('2019-10-27T03:00:00+01:00');
    expect(instantMs('2019-10-27T02:30:00')).to.equal(Date.parse('2019-10-27T00:30:00Z'));
  });

  it('keeps dates as dates and refuses what is no date or time', () => {
    expect(fhirDateTime('2019-01-24')).to.equal('2019-01-24');
    expect(fhirDateTime('2019-01')).to.equal('2019-01');
    expect(fhirDateTime('2019')).to.equal('2019');
    expect(fhirDateTime('0050-06-01T12:00:00')).to.match(/^0050-06-01T/);
    for (const bad of ['2019-02-30T10:00:00', '2019-01-24T24:00:00', '2019-01-24T13:60:00', '24.01.2019', '', 'now']) {
      expect(fhirDateTime(bad), bad).to.equal(undefined);
    }
  });

  it('writes the source-message extension time (MsgHead GenDate) with its Oslo offset', () => {
    const winter = sourceExtension({ messageId: 'm', sent: '2019-01-24T13:42:21', received: new Date(0), storeId: 's' });
    expect(winter.extension!.find((e) => e.url === 'sent')!.valueDateTime).to.equal('2019-01-24T13:42:21+01:00');
    const summer = sourceExtension({ messageId: 'm', sent: '2019-06-24T13:42:21', received: new Date(0), storeId: 's' });
    expect(summer.extension!.find((e) => e.url === 'sent')!.valueDateTime).to.equal('2019-06-24T13:42:21+02:00');
    const unreadable = sourceExtension({ messageId: 'm', sent: 'yesterday', received: new Date(0), storeId: 's' });
    expect(unreadable.extension!.map((e) => e.url)).to.deep.equal(['messageId', 'received', 'storeId']);
  });
});
