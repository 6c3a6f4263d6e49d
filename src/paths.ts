/**
 * The project root (where package.json, mappings/ and dictionaries/ are), the same from src/ (tsx) and dist/ (node):
 * both are one level below it.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function projectPath(...segments: string[]): string {
  return path.join(PROJECT_ROOT, ...segments);
}
