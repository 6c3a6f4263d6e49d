/**
 * The one way tests reach `../shared/` (reference material beside the project root). Fails with a clear message
 * when it is missing, instead of a confusing ENOENT deep inside a test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_DIR = process.env.SHARED_DIR ? path.resolve(process.env.SHARED_DIR) : path.resolve(projectRoot, '..', 'shared');

export function sharedPath(...segments: string[]): string {
  const p = path.join(SHARED_DIR, ...segments);
  if (!fs.existsSync(p)) {
    throw new Error(
      `Reference material missing: ${p}. The tests need the project's shared/ folder beside the project root ` +
        `(or SHARED_DIR pointing to it).`,
    );
  }
  return p;
}

export function readShared(...segments: string[]): Buffer {
  return fs.readFileSync(sharedPath(...segments));
}
