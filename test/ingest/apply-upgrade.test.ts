/**
 * The applier brings stored resources written before the extensions had canonical URLs (and before `sent` had its
 * Oslo offset) into the current form whenever a message touches them, also when it writes nothing else: a replay of
 * the stored messages leaves no invalid version current.
 */
import { expect } from 'chai';
import type { Resource } from '@medplum/fhirtypes';
import { applyMapped, upgradeExtensions, type FhirStore, type MappingOutput } from '../../src/referrals/apply.js';
import { EXTENSIONS } from '../../src/referrals/systems.js';
import { schemaIssues } from '../../src/fhir/json-schema.js';

class MemoryStore implements FhirStore {
  readonly docs = new Map<string, Resource>();
  writes = 0;
  async create<T extends Resource>(r: T): Promise<T> {
    const out = { ...r, meta: { versionId: '1' } } as T;
    this.docs.set(`${r.resourceType}/${r.id}`, out);
    this.writes++;
    return out;
  }
  async read<T extends Resource>(type: string, id: string): Promise<T> {
    const r = this.docs.get(`${type}/${id}`);
    if (!r) throw Object.assign(new Error('not found'), { status: 404 });
    return r as T;
  }
  async update<T extends Resource>(r: T, opts: { ifMatchVersion?: string } = {}): Promise<T> {
    const cur = this.docs.get(`${r.resourceType}/${r.id}`);
    if (opts.ifMatchVersion && cur?.meta?.versionId !== opts.ifMatchVersion) throw Object.assign(new Error('stale'), { status: 412 });
    const out = { ...r, meta: { versionId: String(Number(cur?.meta?.versionId ?? 0) + 1) } } as T;
    this.docs.set(`${r.resourceType}/${r.id}`, out);
    this.writes++;
    return out;
  }
  async searchOne<T extends Resource>(): Promise<T | undefined> {
    return undefined;
  }
}

const legacySource = {
  url: 'urn:hl7-engine:fhir:extension:source-message',
  extension: [
    { url: 'messageId', valueString: 'old-msg' },
    { url: 'sent', valueDateTime: '2019-01-24T13:42:21' },
    { url: 'received', valueInstant: '2019-01-24T12:43:00.000Z' },
    { url: 'storeId', valueString: 'store-1' },
  ],
};

function legacyServiceRequest(): Resource {
  return {
    resourceType: 'ServiceRequest',
    id: 'sr-1',
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
    const store = new MemoryStore();
    store.docs.set('ServiceRequest/sr-1', legacyServiceRequest());
    const output: MappingOutput = {
      resources: [
        {
          resource: { resourceType: 'ServiceRequest', id: 'sr-1', status: 'active', intent: 'order', subject: { reference: 'Patient/p-1' } } as never,
          update: ['*'],
          updateIf: { status: ['active'] },
        },
      ],
    };
    const src = { messageId: 'new-msg', sent: '2019-02-01T10:00:00', received: new Date('2019-02-01T09:01:00Z'), storeId: 'store-2' };
    const [r] = await applyMapped(store, output, src);
    expect(r).to.include({ action: 'skipped_state', versionId: '4' });
    const stored = store.docs.get('ServiceRequest/sr-1') as unknown as { status: string; extension: { url: string }[] };
    expect(stored.status).to.equal('revoked');
    expect(stored.extension.map((e) => e.url)).to.deep.equal([EXTENSIONS.henvisningPriority, EXTENSIONS.sourceMessage]);
    const again = await applyMapped(store, output, src);
    expect(again[0]).to.include({ action: 'skipped_state', versionId: '4' });
    expect(store.writes).to.equal(1);
  });
});
