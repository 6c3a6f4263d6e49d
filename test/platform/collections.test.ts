import { expect } from 'chai';
import { collectionSpecs } from '../../src/app/collections.js';
import { ensureCollections } from '../../src/platform/db/mongo.js';
import { engine } from '../support/harness.js';

describe('collections and indexes at start-up', () => {
  it('exist after start and a second run changes nothing (idempotent)', async () => {
    const db = engine().ctx.database.db;
    const before = new Map<string, string[]>();
    for (const spec of collectionSpecs) {
      before.set(spec.name, (await db.collection(spec.name).indexes()).map((i) => String(i.name)).sort());
      for (const index of spec.indexes) expect(before.get(spec.name)).to.include(index.name);
    }
    await ensureCollections(db, collectionSpecs);
    for (const spec of collectionSpecs) {
      expect((await db.collection(spec.name).indexes()).map((i) => String(i.name)).sort()).to.deep.equal(before.get(spec.name));
    }
  });
});
