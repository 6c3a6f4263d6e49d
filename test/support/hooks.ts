/**
 * Root hooks (mocha --require): one database for the whole run (MONGODB_URI, else mongod, else FerretDB in a throwaway
 * directory) and one engine on an ephemeral port. Test files reach them through `./harness.ts`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveDatabase, type EmbeddedDatabase } from '../../src/platform/devdb/devdb.js';
import { checkEmittedResources, collectEmittedResources } from './emitted.js';
import { setHarness, startTestEngine, type TestEngine } from './harness.js';

let db: EmbeddedDatabase | undefined;
let engine: TestEngine | undefined;
let tmp: string | undefined;

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(600_000); // the very first run may build FerretDB
    collectEmittedResources();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hl7-engine-test-'));
    db = await resolveDatabase({
      uri: process.env.MONGODB_URI,
      dataDir: path.join(tmp, 'db'),
      onProgress: (m) => process.stderr.write(`[test db] ${m}\n`),
    });
    engine = await startTestEngine({ mongodbUri: db.uri, baseDir: tmp });
    setHarness({ dbUri: db.uri, dbKind: db.kind, engine, tmpDir: tmp });
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(120_000);
    try {
      // Every FHIR resource the engine answered during the run is valid R4 (the JSON schema); FHIR_DUMP_DIR gets
      // them for the HL7 reference validator.
      const n = await checkEmittedResources(process.env.FHIR_DUMP_DIR || undefined);
      process.stderr.write(`[fhir] ${n} distinct FHIR resources answered by the engine: all valid against the R4 JSON schema\n`);
    } finally {
      await stopAll();
    }
  },
};

async function stopAll(): Promise<void> {
  await engine?.stop();
  await db?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}
