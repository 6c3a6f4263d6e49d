/**
 * The search algorithms of the FHIR store without a database: parsing a query into conditions, the search keys a
 * resource is stored with, the posting-index keys it is listed under, matching, and the choice of the index scan.
 */
import { expect } from 'chai';
import type { Patient } from '@medplum/fhirtypes';
import { matchesAll, parseSearch, planScan, splitOr, valuePostingKey } from '../../src/fhir-store/search-params.js';
import { dateRange, normalizeString, postingKeys, searchKeys, stringPrefixes } from '../../src/fhir-store/search-keys.js';

const NIN = 'urn:oid:2.16.578.1.12.4.1.4.1';

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p1',
  identifier: [{ system: NIN, value: '13097248022' }],
  name: [{ family: 'Ås-Hansen', given: ['Kari Mette'] }],
  gender: 'female',
  birthDate: '1972-09-13',
};

function stored(resource: Patient, lu = Date.parse('2026-01-01T00:00:00Z')) {
  return { _id: resource.id!, lu, ...searchKeys(resource) };
}

describe('FHIR store: search algorithms (no database)', () => {
  it('splits OR lists on unescaped commas only; an escaped comma or bar is part of the value', () => {
    expect(splitOr('a,b\\,c,d')).to.deep.equal(['a', 'b\\,c', 'd']);
    const token = parseSearch('Patient', { identifier: 'urn:x\\|y|a\\,b,c' }).conditions[0];
    expect(token.values).to.deep.equal([
      { kind: 'token', system: 'urn:x|y', code: 'a,b' },
      { kind: 'token', system: undefined, code: 'c' },
    ]);
  });

  it('parses token, string, date and paging parameters, keeps the canonical query and lists unknown names', () => {
    const ps = parseSearch('Patient', { identifier: `${NIN}|13097248022`, family: 'ås', birthdate: 'ge1970', _count: '5', bogus: '1' });
    expect(ps.count).to.equal(5);
    expect(ps.unknown).to.deep.equal(['bogus']);
    const byName = Object.fromEntries(ps.conditions.map((c) => [c.name, c]));
    expect(byName.identifier.values).to.deep.equal([{ kind: 'token', system: NIN, code: '13097248022' }]);
    expect(byName.family.values[0]).to.include({ kind: 'string', exact: false });
    expect(byName.birthdate.values[0]).to.include({ kind: 'date', prefix: 'ge', lo: Date.UTC(1970, 0, 1) });
    expect(ps.canonical.map(([k]) => k)).to.include.members(['identifier', 'family', 'birthdate']);
    expect(ps.canonical.map(([k]) => k)).not.to.include('_count');
  });

  it('caps _count and refuses a resource type it does not know', () => {
    expect(parseSearch('Patient', { _count: '100000' }).count).to.equal(1000);
    expect(() => parseSearch('NoSuchType', {})).to.throw(/not supported/);
  });

  it('takes a date at its precision: a year, a day, a minute with its zone', () => {
    expect(dateRange('2024')).to.deep.equal([Date.UTC(2024, 0, 1), Date.UTC(2025, 0, 1) - 1]);
    expect(dateRange('2024-02-29')).to.deep.equal([Date.UTC(2024, 1, 29), Date.UTC(2024, 2, 1) - 1]);
    expect(dateRange('2024-02-29T10:15+01:00')).to.deep.equal([Date.UTC(2024, 1, 29, 9, 15), Date.UTC(2024, 1, 29, 9, 15) + 59_999]);
    expect(dateRange('2024-13-01')).to.equal(undefined);
  });

  it('stores normalised strings (case and accents folded) beside the exact values, tokens as system|code', () => {
    const keys = searchKeys(patient);
    expect(keys.s.identifier).to.deep.equal([`${NIN}|13097248022`]);
    expect(keys.s.family).to.deep.equal([normalizeString('Ås-Hansen')]);
    expect(keys.x.family).to.deep.equal(['Ås-Hansen']);
    expect(keys.d.birthdate).to.deep.equal([{ l: Date.UTC(1972, 8, 13), h: Date.UTC(1972, 8, 14) - 1 }]);
  });

  it('lists a resource under its type, each token with and without system, and the prefixes of each word of a string', () => {
    const keys = postingKeys('Patient', searchKeys(patient));
    expect(keys).to.include('Patient|_type|');
    expect(keys).to.include(`Patient|identifier|${NIN}|13097248022`);
    expect(keys).to.include('Patient|identifier|*|13097248022');
    const family = normalizeString('Ås-Hansen');
    for (const prefix of stringPrefixes(family)) expect(keys).to.include(`Patient|family|${prefix}`);
    expect(stringPrefixes('hansen kari')).to.include.members(['h', 'hansen k', 'k', 'kari']);
    expect(stringPrefixes('abcdefghijk').every((p) => p.length <= 8)).to.equal(true);
  });

  it('matches what the posting keys promise: prefix and exact strings, tokens with or without system, date prefixes', () => {
    const doc = stored(patient);
    const match = (params: Record<string, string>) => matchesAll(parseSearch('Patient', params), doc);
    expect(match({ family: 'ås' })).to.equal(true);
    expect(match({ family: 'hans' })).to.equal(true);
    expect(match({ 'family:exact': 'Ås-Hansen' })).to.equal(true);
    expect(match({ 'family:exact': 'ås-hansen' })).to.equal(false);
    expect(match({ identifier: '13097248022' })).to.equal(true);
    expect(match({ identifier: 'urn:other|13097248022' })).to.equal(false);
    expect(match({ birthdate: 'ge1972-09-13' })).to.equal(true);
    expect(match({ birthdate: 'gt1972-09-13' })).to.equal(false);
    expect(match({ birthdate: 'lt1972' })).to.equal(false);
    expect(match({ gender: 'female,male' })).to.equal(true);
  });

  it('drives the scan with the most selective condition whose values all have a posting key', () => {
    const ps = parseSearch('Patient', { gender: 'female', identifier: `${NIN}|13097248022`, birthdate: 'ge1970' });
    const plan = planScan(ps);
    expect(plan.driver?.param).to.equal('identifier');
    expect(plan.keys).to.deep.equal([`Patient|identifier|${NIN}|13097248022`]);
    expect(planScan(parseSearch('Patient', { birthdate: 'ge1970' })).keys).to.deep.equal(['Patient|_type|']);
    const family = parseSearch('Patient', { family: 'hansenberg' }).conditions[0];
    expect(valuePostingKey('Patient', family, family.values[0])).to.equal('Patient|family|hansenbe');
  });
});
