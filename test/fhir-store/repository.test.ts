import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { CarePlan, Patient, ServiceRequest } from '@medplum/fhirtypes';
import { FhirError } from '../../src/fhir-store/errors.js';
import { engine, TEST_TENANT } from '../support/harness.js';

const NIN = 'urn:oid:2.16.578.1.12.4.1.4.1';

function fhir() {
  return engine().ctx.fhir.forTenant(TEST_TENANT);
}

async function rejects(p: Promise<unknown>): Promise<FhirError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(FhirError);
    return err as FhirError;
  }
  throw new Error('expected a FhirError');
}

describe('FHIR repository', () => {
  it('creates, reads, updates (versioned), vreads, keeps history, deletes with a tombstone', async () => {
    const nin = `0101${randomUUID().slice(0, 7)}`;
    const p = await fhir().create<Patient>({ resourceType: 'Patient', identifier: [{ system: NIN, value: nin }], name: [{ family: 'Nordmann', given: ['Kari'] }] });
    expect(p.id).to.match(/^[0-9a-f-]{36}$/);
    expect(p.meta?.versionId).to.equal('1');
    expect(Date.parse(p.meta!.lastUpdated!)).to.be.closeTo(Date.now(), 60_000);
    expect(await fhir().read('Patient', p.id!)).to.deep.equal(p);

    const p2 = await fhir().update<Patient>({ ...p, gender: 'female' });
    expect(p2.meta?.versionId).to.equal('2');
    expect((await fhir().vread<Patient>('Patient', p.id!, '1')).gender).to.equal(undefined);
    expect((await fhir().vread<Patient>('Patient', p.id!, '2')).gender).to.equal('female');
    const h = await fhir().history<Patient>('Patient', p.id!);
    expect(h.map((x) => x.meta?.versionId)).to.deep.equal(['2', '1']);

    expect((await rejects(fhir().update({ ...p2, gender: 'male' }, { ifMatchVersion: '1' }))).status).to.equal(412);
    expect((await rejects(fhir().create({ ...p2 }, { id: p.id }))).status).to.equal(409);

    const found = await fhir().search<Patient>('Patient', { identifier: `${NIN}|${nin}` });
    expect(found.resources.map((r) => r.id)).to.deep.equal([p.id]);
    expect((await fhir().searchOne<Patient>('Patient', { identifier: nin }))?.id).to.equal(p.id);
    expect((await fhir().search<Patient>('Patient', { identifier: nin, gender: 'male' })).resources).to.have.length(0);

    await fhir().delete('Patient', p.id!);
    expect((await rejects(fhir().read('Patient', p.id!))).status).to.equal(410);
    expect((await fhir().search<Patient>('Patient', { identifier: nin })).resources).to.have.length(0);
    expect((await rejects(fhir().read('Patient', randomUUID()))).status).to.equal(404);
  });

  it('rejects invalid resources with 422 before writing', async () => {
    const err = await rejects(fhir().create({ resourceType: 'CarePlan', intent: 'plan' } as unknown as CarePlan));
    expect(err.status).to.equal(422);
    expect(err.outcome.issue.length).to.be.greaterThan(0);
  });

  it('never loses an update under concurrent writers', async () => {
    const sr = await fhir().create<ServiceRequest>({ resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/x1' } });
    const notes = Array.from({ length: 8 }, (_, i) => `note-${i}`);
    await Promise.all(
      notes.map(async (text) => {
        for (;;) {
          const cur = await fhir().read<ServiceRequest>('ServiceRequest', sr.id!);
          try {
            await fhir().update({ ...cur, note: [...(cur.note ?? []), { text }] }, { ifMatchVersion: cur.meta!.versionId });
            return;
          } catch (err) {
            if ((err as FhirError).status !== 412) throw err;
          }
        }
      }),
    );
    const final = await fhir().read<ServiceRequest>('ServiceRequest', sr.id!);
    expect(final.meta?.versionId).to.equal('9');
    expect(final.note!.map((n) => n.text).sort()).to.deep.equal(notes);
  });

  it('concurrent creates of one id: exactly one wins (201), the others get 409, and the winner is what is stored', async () => {
    const id = randomUUID();
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        fhir().create<ServiceRequest>({ resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: `Patient/c${i}` } }, { id }),
      ),
    );
    const won = results.filter((r): r is PromiseFulfilledResult<ServiceRequest> => r.status === 'fulfilled');
    expect(won).to.have.length(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as FhirError).status).to.equal(409);
    const stored = await fhir().read<ServiceRequest>('ServiceRequest', id);
    expect(stored).to.deep.equal(won[0].value);
    expect((await fhir().history('ServiceRequest', id)).map((h) => h.meta?.versionId)).to.deep.equal(['1']);
  });

  it('concurrent creates sharing search keys (grouped index appends) are all found', async () => {
    const patient = `Patient/${randomUUID()}`;
    const created = await Promise.all(
      Array.from({ length: 40 }, () => fhir().create<ServiceRequest>({ resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: patient } })),
    );
    const found = await fhir().search<ServiceRequest>('ServiceRequest', { subject: patient });
    expect(found.resources.map((r) => r.id).sort()).to.deep.equal(created.map((r) => r.id).sort());
    for (const r of created.slice(0, 5)) expect(await fhir().read('ServiceRequest', r.id!)).to.deep.equal(r);
  });
});
