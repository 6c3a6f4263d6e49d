/**
 * How CLI commands reach the database: the same resolution as the engine (MONGODB_URI, else the embedded server of
 * DATA_DIR — reused when the engine is running, started for the command otherwise).
 */
import path from 'node:path';
import { loadConfig, type Config } from '../platform/config/config.js';
import { collectionSpecs } from '../app/collections.js';
import { connectDatabase, ensureCollections, type Database } from '../platform/db/mongo.js';
import { resolveDatabase } from '../platform/devdb/devdb.js';

export async function withDatabase<T>(fn: (database: Database, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const embedded = await resolveDatabase({
    uri: config.mongodbUri,
    dataDir: path.join(config.dataDir, 'db'),
    onProgress: (m) => process.stderr.write(`${m}\n`),
  });
  const database = await connectDatabase(embedded.uri, config.mongodbDatabase);
  try {
    await ensureCollections(database.db, collectionSpecs);
    return await fn(database, config);
  } finally {
    await database.close();
    await embedded.stop();
  }
}
