/**
 * What a replacement changes: codes added, removed and changed (display, definition, active, parent, properties),
 * and which metadata fields differ.
 */
import { canonicalCode, type DictionaryCode, type DictionaryMeta } from './format.js';

interface ChangedCode {
  code: string;
  fields: string[];
  before: DictionaryCode;
  after: DictionaryCode;
}

export interface DictionaryDiff {
  added: DictionaryCode[];
  removed: DictionaryCode[];
  changed: ChangedCode[];
  unchanged: number;
  meta_changed: string[];
}

export interface DiffSummary {
  added: number;
  removed: number;
  changed: number;
  unchanged: number;
  meta_changed: string[];
}

const CODE_FIELDS = ['display', 'definition', 'active', 'parent', 'properties'] as const;

export function diffDictionaries(
  before: { meta: DictionaryMeta; codes: readonly DictionaryCode[] } | undefined,
  after: { meta: DictionaryMeta; codes: readonly DictionaryCode[] },
): DictionaryDiff {
  const old = new Map((before?.codes ?? []).map((c) => [c.code, canonicalCode(c)]));
  const diff: DictionaryDiff = { added: [], removed: [], changed: [], unchanged: 0, meta_changed: [] };
  const seen = new Set<string>();
  for (const raw of after.codes) {
    const c = canonicalCode(raw);
    seen.add(c.code);
    const prev = old.get(c.code);
    if (!prev) {
      diff.added.push(c);
      continue;
    }
    const fields = CODE_FIELDS.filter((f) => JSON.stringify(prev[f]) !== JSON.stringify(c[f]));
    if (fields.length) diff.changed.push({ code: c.code, fields, before: prev, after: c });
    else diff.unchanged++;
  }
  for (const [code, c] of old) if (!seen.has(code)) diff.removed.push(c);
  if (before) {
    const keys = new Set([...Object.keys(before.meta), ...Object.keys(after.meta)]);
    keys.delete('$schema');
    for (const k of [...keys].sort()) {
      const a = (before.meta as unknown as Record<string, unknown>)[k];
      const b = (after.meta as unknown as Record<string, unknown>)[k];
      if (JSON.stringify(a) !== JSON.stringify(b)) diff.meta_changed.push(k);
    }
  }
  return diff;
}

export function summarize(diff: DictionaryDiff): DiffSummary {
  return { added: diff.added.length, removed: diff.removed.length, changed: diff.changed.length, unchanged: diff.unchanged, meta_changed: diff.meta_changed };
}

export function isEmptyDiff(diff: DictionaryDiff): boolean {
  return diff.added.length === 0 && diff.removed.length === 0 && diff.changed.length === 0 && diff.meta_changed.length === 0;
}

/** The diff as answered by the API: counts plus the lists, each cut to `limit` entries. */
export function diffView(diff: DictionaryDiff, limit: number) {
  const cut = <T>(list: T[]) => list.slice(0, limit);
  return {
    summary: summarize(diff),
    added: cut(diff.added),
    removed: cut(diff.removed),
    changed: cut(diff.changed),
    truncated: diff.added.length > limit || diff.removed.length > limit || diff.changed.length > limit,
  };
}
