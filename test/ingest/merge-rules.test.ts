/**
 * The merge rules of ingestion, without a database: what applying one mapped entry to the stored resource does
 * (create, keep, update by the entry's update/fill lists, skip an older message or a resource in a state the entry
 * may not change).
 */
import { expect } from 'chai';
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { merge, planEntry, withSource, type SourceInfo } from '../../src/ingest/apply.js';

const NIN = 'urn:oid:2.16.578.1.12.4.1.4.1';

function source(messageId: string, sent: string, received = sent): SourceInfo {
  return { messageId, sent, received: new Date(received), storeId: `store-${messageId}` };
}

const storedPatient = (src: SourceInfo, extra: Partial<Patient> = {}): Patient =>
  withSource<Patient>({ resourceType: 'Patient', id: 'p1', identifier: [{ system: NIN, value: '1' }], name: [{ family: 'Eldre' }], ...extra }, src);

describe('ingest: merge rules of one mapped entry (no database)', () => {
  const first = source('m1', '2026-01-01T10:00:00+01:00');
  const later = source('m2', '2026-01-02T10:00:00+01:00');

  it('creates what is not stored, with the source-message extension', () => {
    const plan = planEntry(undefined, { resource: { resourceType: 'Patient', id: 'p1' } }, first);
    expect(plan.action).to.equal('created');
    const body = (plan as { body: Patient }).body;
    expect(body.id).to.equal('p1');
    expect(JSON.stringify(body.extension)).to.contain('"m1"');
  });

  it('keeps the stored resource when the entry neither updates nor fills anything', () => {
    const plan = planEntry(storedPatient(first), { resource: { resourceType: 'Patient', id: 'p1', gender: 'female' } as Patient & { id: string } }, later);
    expect(plan.action).to.equal('kept');
  });

  it('updates the listed fields from a later message and leaves the others as stored', () => {
    const plan = planEntry(
      storedPatient(first, { gender: 'male' }),
      { resource: { resourceType: 'Patient', id: 'p1', name: [{ family: 'Nyere' }], gender: 'female' } as Patient & { id: string }, update: ['name'] },
      later,
    );
    expect(plan.action).to.equal('updated');
    const body = (plan as { body: Patient }).body;
    expect(body.name).to.deep.equal([{ family: 'Nyere' }]);
    expect(body.gender).to.equal('male');
    expect(JSON.stringify(body.extension)).to.contain('"m2"');
  });

  it('skips an update from a message sent before the one that wrote the stored version', () => {
    const stored = storedPatient(later);
    const plan = planEntry(stored, { resource: { resourceType: 'Patient', id: 'p1', name: [{ family: 'Gammel' }] } as Patient & { id: string }, update: ['name'] }, first);
    expect(plan.action).to.equal('skipped_older');
  });

  it('orders messages without a send time by their receipt, and never treats a message as older than itself', () => {
    const a = { ...first, sent: undefined, received: new Date('2026-01-05T00:00:00Z') };
    const b = { ...first, messageId: 'm3', sent: undefined, received: new Date('2026-01-04T00:00:00Z') };
    const entry = { resource: { resourceType: 'Patient', id: 'p1', name: [{ family: 'X' }] } as Patient & { id: string }, update: ['name'] };
    expect(planEntry(storedPatient(a), entry, b).action).to.equal('skipped_older');
    expect(planEntry(storedPatient(a), entry, a).action).to.equal('updated');
  });

  it('answers unchanged when the merged resource equals the stored one apart from its source', () => {
    const plan = planEntry(storedPatient(first), { resource: { resourceType: 'Patient', id: 'p1', name: [{ family: 'Eldre' }] } as Patient & { id: string }, update: ['name'] }, later);
    expect(plan.action).to.equal('unchanged');
  });

  it('changes a resource only in the states the entry allows (updateIf)', () => {
    const stored = withSource<ServiceRequest>({ resourceType: 'ServiceRequest', id: 's1', status: 'completed', intent: 'order', subject: { reference: 'Patient/p1' } }, first);
    const entry = {
      resource: { resourceType: 'ServiceRequest', id: 's1', status: 'active', intent: 'order', subject: { reference: 'Patient/p1' }, note: [{ text: 'ny' }] } as ServiceRequest & { id: string },
      update: ['note'],
      updateIf: { status: ['draft', 'active'] },
    };
    expect(planEntry(stored, entry, later).action).to.equal('skipped_state');
    expect(planEntry({ ...stored, status: 'active' }, entry, later).action).to.equal('updated');
  });

  it('merge: "+field" appends identifiers not already there; fill sets only what is missing; "*" replaces all but id and meta', () => {
    const existing: Patient = { resourceType: 'Patient', id: 'p1', meta: { versionId: '3' }, identifier: [{ system: NIN, value: '1' }], birthDate: '1970-01-01' };
    const incoming: Patient = { resourceType: 'Patient', id: 'p1', identifier: [{ system: NIN, value: '1' }, { system: 'urn:x', value: '9' }], birthDate: '1980-02-02', gender: 'female' };
    const appended = merge(existing, incoming, ['+identifier'], ['birthDate', 'gender']) as Patient;
    expect(appended.identifier).to.deep.equal([{ system: NIN, value: '1' }, { system: 'urn:x', value: '9' }]);
    expect(appended.birthDate).to.equal('1970-01-01');
    expect(appended.gender).to.equal('female');
    expect(existing.identifier).to.have.length(1); // the stored resource is not modified
    const replaced = merge(existing, incoming, ['*'], []) as Patient;
    expect(replaced).to.deep.equal({ ...incoming, id: 'p1', meta: { versionId: '3' } });
  });
});
