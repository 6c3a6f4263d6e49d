/**
 * What a mapping produces: the FHIR resources of one message, each with how it is matched against what is stored
 * (identity) and which of its fields an update may change. Ingestion applies it to the FHIR store.
 */
import type { Resource } from '@medplum/fhirtypes';

export interface MappedEntry {
  resource: Resource & { id: string };
  identity?: { system: string; value: string };
  update?: string[];
  fill?: string[];
  updateIf?: Record<string, string[]>;
  /** Performance hint: the resource is expected to be new, so it is created without reading first (409 → read path). */
  createFirst?: boolean;
}

export interface MappingOutput {
  resources: MappedEntry[];
  warnings?: string[];
}

/** Removes null, undefined, '' , [] and {} (recursively): JSONata keeps empty constructors, FHIR forbids them. */
export function prune<T>(value: T): T | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return (value === '' ? undefined : value) as T | undefined;
  if (Array.isArray(value)) {
    const out = value.map((v) => prune(v)).filter((v) => v !== undefined);
    return (out.length === 0 ? undefined : out) as T | undefined;
  }
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (k.startsWith('_')) continue; // mapping-internal helper fields
      const p = prune(v);
      if (p !== undefined) out[k] = p;
    }
    return (Object.keys(out).length === 0 ? undefined : out) as T | undefined;
  }
  return value;
}
