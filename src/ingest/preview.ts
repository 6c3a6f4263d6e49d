/**
 * Mapping upgrade preview (`replay --dry-run`): runs the CURRENT checks and mappings on stored messages and compares
 * what applying them would make of each FHIR resource with the resource stored now in the message's tenant, without
 * writing anything (no FHIR version, no message outcome, no attempt claim).
 *
 * The would-be resource comes from the applier's own planner (referrals/apply.ts planMapped: the same lookup by
 * deterministic id or identity, update/fill/updateIf merge rules and newest-wins check as a real replay). The
 * comparison ignores meta.versionId, meta.lastUpdated and the source-message extension, which every write changes.
 */
import type { Resource } from '@medplum/fhirtypes';
import { canonicalJson } from '../fhir-store/canonical-json.js';
import type { MappingRef, MappingSelection } from '../mapping/registry.js';
import { planMapped, type ApplyAction, type FhirStore } from './apply.js';
import { isSourceMessageUrl } from '../lib/fhir-systems.js';
import type { MessageProcessor } from './replay.js';
import { REPLAY_MAX } from './replay.js';
import type { MessageDoc, MessageError, MessageQuery, MessageSource, MessageStatus, MessageStore } from './message-store.js';

/** Field path (dots, [i] for array items) → [stored, would be]; null where the field is absent. */
type FieldDiff = Record<string, [unknown, unknown]>;

interface ResourcePreview {
  reference: string;
  change: 'created' | 'unchanged' | 'changed';
  /** What the applier would do (created, updated, unchanged, kept, skipped_older, skipped_state). */
  action: ApplyAction;
  diff?: FieldDiff;
}

export interface MessagePreview {
  id: string;
  tenant: string;
  source: MessageSource;
  /** The status the message has now. */
  status: MessageStatus;
  /** The mapping that produced the stored outcome, and the one that would run now. */
  storedMapping?: MappingRef;
  mapping?: MappingRef;
  /** processed: the mapping ran and `resources` says what it would change; rejected/failed: what the replay would record. */
  outcome: 'processed' | 'rejected' | 'failed';
  error?: Pick<MessageError, 'code' | 'message'>;
  resources: ResourcePreview[];
}

/** A resource as compared: without meta.versionId, meta.lastUpdated and the source-message extension. */
function comparable(r: Resource): Record<string, unknown> {
  const out = structuredClone(r) as unknown as Record<string, unknown>;
  const meta = out.meta as Record<string, unknown> | undefined;
  if (meta) {
    delete meta.versionId;
    delete meta.lastUpdated;
    if (Object.keys(meta).length === 0) delete out.meta;
  }
  const ext = (out.extension as { url?: string }[] | undefined)?.filter((e) => !isSourceMessageUrl(e.url));
  if (ext && ext.length > 0) out.extension = ext;
  else delete out.extension;
  return out;
}

/** The fields that differ between two JSON values, by path; objects by key, arrays item by item. */
function diffFields(before: unknown, after: unknown, path = '', out: FieldDiff = {}): FieldDiff {
  if (canonicalJson(before) === canonicalJson(after)) return out;
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    for (const k of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
      diffFields(before[k], after[k], path ? `${path}.${k}` : k, out);
    }
  } else if (Array.isArray(before) && Array.isArray(after)) {
    for (let i = 0; i < Math.max(before.length, after.length); i++) diffFields(before[i], after[i], `${path}[${i}]`, out);
  } else {
    out[path || '$'] = [before ?? null, after ?? null];
  }
  return out;
}

export class PreviewService {
  constructor(
    private readonly store: MessageStore,
    private readonly processors: Record<MessageSource, MessageProcessor>,
    /** The FHIR repository of a tenant (only read here). */
    private readonly fhir: (tenant: string) => FhirStore,
  ) {}

  /** What replaying one stored message with the current mappings (or the versions `selection` names) would change. */
  async previewOne(doc: MessageDoc, selection?: MappingSelection): Promise<MessagePreview> {
    const base = { id: doc._id, tenant: doc.tenant, source: doc.source, status: doc.status, storedMapping: doc.mapping };
    const mapped = await this.processors[doc.source].map(doc, await this.store.raw(doc), selection);
    if (mapped.kind === 'not_mapped') {
      const { status, error, mapping } = mapped.outcome;
      return {
        ...base,
        mapping,
        outcome: status === 'rejected' ? 'rejected' : 'failed',
        error: error ? { code: error.code, message: error.message } : undefined,
        resources: [],
      };
    }
    const planned = await planMapped(this.fhir(doc.tenant), mapped.output, mapped.src);
    const resources = planned.map((p): ResourcePreview => {
      if (!p.stored) return { reference: p.reference, change: 'created', action: p.action };
      const diff = diffFields(comparable(p.stored), comparable(p.result));
      return Object.keys(diff).length === 0
        ? { reference: p.reference, change: 'unchanged', action: p.action }
        : { reference: p.reference, change: 'changed', action: p.action, diff };
    });
    return { ...base, mapping: mapped.mapping, outcome: 'processed', resources };
  }

  /** Previews every message matching `query`, oldest first (at most `limit`), one at a time. */
  async *previewMany(query: MessageQuery, limit = REPLAY_MAX, selection?: MappingSelection): AsyncGenerator<MessagePreview> {
    const found = await this.store.idsWithTenant(query, Math.min(limit, REPLAY_MAX));
    for (const { _id, tenant } of found) {
      const doc = await this.store.find(_id, tenant);
      if (doc) yield await this.previewOne(doc, selection); // deleted (retention) in between: skipped
    }
  }
}
