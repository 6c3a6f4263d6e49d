/**
 * The engine's command line run as a real process (`node --import tsx src/cli/main.ts …`) against a test engine's
 * database and data directory (its token key, its local encryption key). Never throws: a failed command answers with
 * its exit code and output.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { databaseUri, type TestEngine } from './harness.js';
import { testTenants } from './tenants.js';

const run = promisify(execFile);
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CliResult {
  stdout: string;
  stderr: string;
  /** 0 on success. */
  code: number;
}

export async function runCli(eng: TestEngine, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), ...args], {
      cwd: PROJECT_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        DATA_DIR: eng.config.dataDir,
        MONGODB_URI: databaseUri(),
        MONGODB_DATABASE: eng.config.mongodbDatabase,
        TENANTS: testTenants(),
        ...env,
      },
      timeout: 120_000,
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: unknown };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
  }
}
