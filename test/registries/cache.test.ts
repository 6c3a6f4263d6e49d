import { expect } from 'chai';
import { RegistryStore } from '../../src/registries/store.js';
import { engine } from '../support/harness.js';

describe('registry read cache', () => {
  it('sees its own writes at once and another instance\'s writes within REGISTRY_CACHE_CHECK_MS', async () => {
    const e = engine();
    const id = `cache-patient-${Date.now()}`;
    const ours = e.ctx.registries;
    expect(await ours.get('patients', id)).to.equal(undefined);
    await ours.upsertMany('patients', [{ id, status: 'active' }], 'test');
    expect((await ours.get('patients', id))?.status).to.equal('active');
    expect((await ours.find('patients', { _id: id })).map((p) => p.status)).to.deep.equal(['active']);

    // Another instance (the CLI loader, another engine) writes: no local notice, only the stamp in the database.
    const other = new RegistryStore(e.ctx.database.db);
    await other.upsertMany('patients', [{ id, status: 'inactive' }], 'test');
    const checkMs = e.ctx.config.registries.cacheCheckMs;
    const deadline = Date.now() + checkMs + 2_000;
    let seen: string | undefined;
    while (Date.now() < deadline) {
      seen = (await ours.get('patients', id))?.status;
      if (seen === 'inactive') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen).to.equal('inactive');
    expect((await ours.find('patients', { _id: id })).map((p) => p.status)).to.deep.equal(['inactive']);

    await other.remove('patients', id);
    await new Promise((r) => setTimeout(r, checkMs + 100));
    expect(await ours.get('patients', id)).to.equal(undefined);
  });

  it('hands out copies: changing a returned record does not change the cache', async () => {
    const e = engine();
    const id = `cache-copy-${Date.now()}`;
    await e.ctx.registries.upsertMany('patients', [{ id, status: 'active' }], 'test');
    const first = (await e.ctx.registries.get('patients', id))!;
    first.status = 'inactive';
    expect((await e.ctx.registries.get('patients', id))?.status).to.equal('active');
  });
});
