/** The cache of recently read or written resources ingestion keeps: bounded by its time to live and its capacity. */
import { expect } from 'chai';
import { ResourceCache } from '../../src/ingest/apply.js';

const patient = (id: string) => ({ resourceType: 'Patient' as const, id });

describe('ingest: the resource cache', () => {
  it('drops expired entries when new ones arrive, so a steady stream of new resources does not fill it', async () => {
    const cache = new ResourceCache(40, 1000);
    for (let i = 0; i < 50; i++) cache.put('t1', patient(`old-${i}`));
    expect(cache.size).to.equal(50);
    await new Promise((r) => setTimeout(r, 60));
    cache.put('t1', patient('new'));
    expect(cache.size).to.equal(1);
    expect(cache.get('t1', 'Patient/new')).to.deep.equal(patient('new'));
    expect(cache.get('t1', 'Patient/old-0')).to.equal(undefined);
  });

  it('keeps at most its capacity, dropping the entry put longest ago, and keeps tenants apart', () => {
    const cache = new ResourceCache(60_000, 2);
    cache.put('t1', patient('a'));
    cache.put('t1', patient('b'));
    cache.put('t1', patient('a')); // put again: now the newest
    cache.put('t1', patient('c'));
    expect(cache.size).to.equal(2);
    expect(cache.get('t1', 'Patient/b')).to.equal(undefined);
    expect(cache.get('t1', 'Patient/a')).to.deep.equal(patient('a'));
    expect(cache.get('t2', 'Patient/a')).to.equal(undefined);
  });
});
