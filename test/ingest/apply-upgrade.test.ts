/**
 * The applier brings stored resources written before the extensions had canonical URLs (and before `sent` had its
 * Oslo offset) into the current form whenever a message touches them, also when it writes nothing else: a replay of
 * the stored messages leaves no invalid version current.
 */
import { expect } from 'chai';
import type { Resource } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { applyMapped, upgradeExtensions } from '../../src/ingest/apply.js';
import type { MappingOutput } from '../../src/mapping/output.js';
import { engine, TEST_TENANT } from '../support/harness.js';
import { EXTENSIONS } from '../../src/lib/fhir-systems.js';
import { schemaIssues } from '../../src/fhir-store/json-schema.js';

const legacySource = {
  url: 'urn:hl7-engine:fhir:extension:source-message',
  extension: [
    { url: 'messageId', valueString: 'old-msg' },
    { url: 'sent', valueDateTime: '2019-01-24T13:42:21' },
    { url: 'received', valueInstant: '2019-01-24T12:43:00.000Z' },
    { url: 'storeId', valueString: 'store-1' },
  ],
};

function legacyServiceRequest(id = 'sr-1'): Resource {
  return {
    resourceType: 'ServiceRequest',
    id,
    meta: { versionId: '3' },
    status: 'revoked',
    intent: 'order',
    subject: { reference: 'Patient/p-1' },
    extension: [{ url: 'urn:hl7-engine:fhir:extension:henvisning-priority', valueCoding: { system: 'urn:oid:2.16.578.1.12.4.1.1.8306', code: 'N' } } as never, legacySource],
  } as Resource;
}

describe('applier: stored engine extensions in an earlier form are upgraded', () => {
  it('rewrites urn extension URLs to the canonical ones and gives the old sent its Oslo offset, keeping the message', () => {
    const up = upgradeExtensions(legacyServiceRequest())!;
    const ext = (up as { extension: { url: string; extension?: { url: string; valueDateTime?: string }[] }[] }).extension;
    expect(ext.map((e) => e.url)).to.deep.equal([EXTENSIONS.henvisningPriority, EXTENSIONS.sourceMessage]);
    expect(ext[1].extension!.find((p) => p.url === 'sent')!.valueDateTime).to.equal('2019-01-24T13:42:21+01:00');
    expect(ext[1].extension!.find((p) => p.url === 'messageId')).to.deep.equal({ url: 'messageId', valueString: 'old-msg' });
    const { meta: _m, ...body } = up;
    expect(schemaIssues(body)).to.deep.equal([]);
    expect(upgradeExtensions(up)).to.equal(undefined);
  });

  it('writes the upgrade when the message itself changes nothing (skipped by state), and nothing when already current', async () => {
    // A version stored before the upgrade (bulk load skips validation, as the old engine's writes had passed it).
    const store = engine().ctx.fhir.forTenant(TEST_TENANT);
    const id = randomUUID();
    const { meta: _meta, ...legacy } = legacyServiceRequest(id);
    await store.bulkLoad([legacy as Resource], { validate: false, history: true });
    const output: MappingOutput = {
      resources: [
        {
          resource: { resourceType: 'ServiceRequest', id, status: 'active', intent: 'order', subject: { reference: 'Patient/p-1' } } as never,
          update: ['*'],
          updateIf: { status: ['active'] },
        },
      ],
    };
    const src = { messageId: 'new-msg', sent: '2019-02-01T10:00:00', received: new Date('2019-02-01T09:01:00Z'), storeId: 'store-2' };
    const [r] = await applyMapped(store, output, src);
    expect(r).to.include({ action: 'skipped_state', versionId: '2' });
    const stored = await store.read<Resource & { status: string; extension: { url: string }[] }>('ServiceRequest', id);
    expect(stored.status).to.equal('revoked');
    expect(stored.extension.map((e) => e.url)).to.deep.equal([EXTENSIONS.henvisningPriority, EXTENSIONS.sourceMessage]);
    const again = await applyMapped(store, output, src);
    expect(again[0]).to.include({ action: 'skipped_state', versionId: '2' });
    expect((await store.history('ServiceRequest', id)).length).to.equal(2);
  });
});
