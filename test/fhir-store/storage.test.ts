import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { Patient } from '@medplum/fhirtypes';
import { currentCollectionName, HISTORY_COLLECTION } from '../../src/fhir-store/resource-types.js';
import { engine, TEST_TENANT } from '../support/harness.js';
import { raw } from '../fhir-api/support.js';

const NIN = 'urn:oid:2.16.578.1.12.4.1.4.1';

function fhir() {
  return engine().ctx.fhir.forTenant(TEST_TENANT);
}

function db() {
  return engine().ctx.database.db;
}

interface StoredResourceDoc {
  _id: string;
  v: number;
  resource?: Patient;
  j?: string;
}

describe('FHIR storage: resources as MongoDB documents', function () {
  this.timeout(60_000);

  it('stores each resource as a sub-document that MongoDB queries can reach', async () => {
    const value = `${Date.now()}${Math.floor(Math.random() * 1e4)}`.slice(-11);
    const created = await fhir().create<Patient>({
      resourceType: 'Patient',
      identifier: [{ system: NIN, value }],
      name: [{ family: 'Dokument', given: ['Bson'] }],
      birthDate: '1970-01-01',
      _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1970-01-01T06:30:00+01:00' }] },
    } as Patient);
    const answered = await raw(`/Patient/${created.id}`);
    expect(answered.status).to.equal(200);

    const found = await db().collection<StoredResourceDoc>(currentCollectionName('Patient')).find({ 'resource.identifier.value': value }).toArray();
    expect(found.map((d) => d._id)).to.deep.equal([`${TEST_TENANT}|${created.id}`]);
    expect(found[0].j).to.equal(undefined);
    expect(found[0].resource).to.deep.equal(answered.body);
    expect((found[0].resource as { _birthDate?: { extension?: { valueDateTime?: string }[] } })._birthDate?.extension?.[0].valueDateTime).to.equal('1970-01-01T06:30:00+01:00');

    const history = await db().collection<StoredResourceDoc & { t: string }>(HISTORY_COLLECTION).find({ t: 'Patient', 'resource.identifier.value': value }).toArray();
    expect(history.map((d) => d.v)).to.deep.equal([1]);
    expect(history[0].resource).to.deep.equal(answered.body);
  });

  it('leaves out properties without a value rather than storing null', async () => {
    const created = await fhir().create<Patient>({ resourceType: 'Patient', name: [{ family: 'Udefinert', given: undefined }], gender: undefined });
    const doc = await db().collection<StoredResourceDoc>(currentCollectionName('Patient')).findOne({ _id: `${TEST_TENANT}|${created.id}` });
    expect(doc?.resource?.name).to.deep.equal([{ family: 'Udefinert' }]);
    expect(doc?.resource).not.to.have.property('gender');
    expect((await raw(`/Patient/${created.id}`)).body.name).to.deep.equal([{ family: 'Udefinert' }]);
  });

  it('reads documents that hold the resource as JSON text and gives them the sub-document form on their next version', async () => {
    const id = randomUUID();
    const lu = Date.parse('2024-01-02T03:04:05Z');
    const v1: Patient = {
      resourceType: 'Patient',
      id,
      meta: { versionId: '1', lastUpdated: new Date(lu).toISOString(), tag: [{ system: 'urn:hl7-engine:tenant', code: TEST_TENANT }] },
      name: [{ family: 'Tekst', given: ['Json'] }],
    };
    const j = JSON.stringify(v1);
    await db().collection(HISTORY_COLLECTION).insertOne({ _id: `${TEST_TENANT}|Patient/${id}/1` as never, t: 'Patient', id, v: 1, lu, j });
    await db().collection(currentCollectionName('Patient')).insertOne({ _id: `${TEST_TENANT}|${id}` as never, v: 1, lu, j });

    const read = await raw(`/Patient/${id}`);
    expect(read.status).to.equal(200);
    expect(read.body.name).to.deep.equal([{ family: 'Tekst', given: ['Json'] }]);

    await fhir().update<Patient>({ ...v1, name: [{ family: 'Tekst', given: ['Bson'] }] }, { ifMatchVersion: '1' });
    const current = await db().collection<StoredResourceDoc>(currentCollectionName('Patient')).findOne({ _id: `${TEST_TENANT}|${id}` });
    expect(current?.v).to.equal(2);
    expect(current?.j).to.equal(undefined);
    expect(current?.resource?.name).to.deep.equal([{ family: 'Tekst', given: ['Bson'] }]);

    const old = await raw(`/Patient/${id}/_history/1`);
    expect(old.status).to.equal(200);
    expect(old.body.name).to.deep.equal([{ family: 'Tekst', given: ['Json'] }]);
  });
});
