/**
 * What tests use: the shared engine (started once by hooks.ts), tokens signed with its local key, and isolated
 * engines with their own configuration and database name when a test needs one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { mintLocalToken } from '../../src/platform/auth/keys.js';
import { loadConfig, type Config } from '../../src/platform/config/config.js';
import { startEngine, type RunningEngine } from '../../src/app/engine.js';
import type { JobDefinition } from '../../src/jobs/types.js';
import { configureLogger } from '../../src/platform/logging/logger.js';
import { TEST_TENANT, testTenants } from './tenants.js';

export { OTHER_TENANT, TEST_TENANT } from './tenants.js';

export interface TestEngine extends RunningEngine {
  config: Config;
  /** A token signed with this engine's local key; client_id TEST_TENANT unless given (null: none). */
  token(scope: string, opts?: { sub?: string; clientId?: string | null; expiresIn?: string }): Promise<string>;
}

interface Harness {
  dbUri: string;
  dbKind: string;
  engine: TestEngine;
  tmpDir: string;
}

let harness: Harness | undefined;

export function setHarness(h: Harness): void {
  harness = h;
}

function current(): Harness {
  if (!harness) throw new Error('Test harness not started: run the tests with mocha (.mocharc.json loads test/support/hooks.ts)');
  return harness;
}

/** The engine shared by all test files. */
export function engine(): TestEngine {
  return current().engine;
}

export function databaseUri(): string {
  return current().dbUri;
}

export function databaseKind(): string {
  return current().dbKind;
}

export function tmpDir(): string {
  return current().tmpDir;
}

configureLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

/**
 * A data directory and a database of their own, for engines of one test that run in their own processes (they share
 * the token key through the directory): the environment every such engine needs, to which the test adds its settings.
 */
export function isolatedEngineEnv(name: string): { dataDir: string; database: string; env: Record<string, string> } {
  const id = randomUUID().slice(0, 8);
  const dataDir = path.join(current().tmpDir, `${name}-${id}`);
  fs.mkdirSync(dataDir, { recursive: true });
  const database = `test_${name}_${id}`;
  return { dataDir, database, env: { DATA_DIR: dataDir, MONGODB_URI: current().dbUri, MONGODB_DATABASE: database, LOG_LEVEL: 'info' } };
}

/** Starts an engine on an ephemeral port with its own data directory and database name; env overrides apply. */
export async function startTestEngine(
  opts: { mongodbUri?: string; baseDir?: string; env?: Record<string, string>; extraJobDefinitions?: JobDefinition<any>[] } = {},
): Promise<TestEngine> {
  const baseDir = opts.baseDir ?? current().tmpDir;
  const id = randomUUID().slice(0, 8);
  const dataDir = path.join(baseDir, `engine-${id}`);
  fs.mkdirSync(dataDir, { recursive: true });
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    MONGODB_URI: opts.mongodbUri ?? current().dbUri,
    MONGODB_DATABASE: `test_${id}`,
    LOG_LEVEL: 'silent',
    TENANTS: testTenants(),
    ...opts.env,
  });
  const running = await startEngine(config, { extraJobDefinitions: opts.extraJobDefinitions });
  return {
    ...running,
    config,
    token: (scope, o = {}) =>
      mintLocalToken(config.dataDir, { scope, sub: o.sub ?? 'user-1', clientId: o.clientId === undefined ? TEST_TENANT : (o.clientId ?? undefined), expiresIn: o.expiresIn }),
  };
}
