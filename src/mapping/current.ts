/**
 * Which installed version of each mapping maps new messages (and replays): an installation-wide choice kept in the
 * database, so every engine process agrees. Each switch is a new document in `mapping_selections` (insert-only, so
 * the history of switches stays); the current version of a mapping is the one of its latest document, or, with none,
 * the mapping's highest installed version. Each process reads the selection at most every MAPPING_SELECTION_CACHE_MS
 * (default 2 s): a switch reaches every process within that delay, without a restart. The process that switched drops
 * its cached copy at once.
 */
import { ObjectId, type Db } from 'mongodb';
import type { CollectionSpec } from '../platform/db/mongo.js';
import type { MappingRef, MappingRegistry, MappingSelection } from './registry.js';

const MAPPING_SELECTIONS = 'mapping_selections';

export const mappingSelectionCollection: CollectionSpec = {
  name: MAPPING_SELECTIONS,
  indexes: [{ key: { name: 1, selected_at: -1 }, name: 'name_selected' }],
};

interface MappingSelectionDoc {
  _id: ObjectId;
  name: string;
  version: string;
  selected_at: Date;
  /** The token's `sub` or the CLI's "cli". */
  selected_by: string;
}

export interface InstalledMapping extends MappingRef {
  current: boolean;
}

export class UnknownMappingVersionError extends Error {}

export class CurrentMappings {
  private cached: { at: number; value: Promise<MappingSelection> } | undefined;

  constructor(
    private readonly db: Db,
    private readonly registry: Pick<MappingRegistry, 'byVersion' | 'byMappingName' | 'list'>,
    private readonly options: { cacheMs: number },
  ) {}

  private get collection() {
    return this.db.collection<MappingSelectionDoc>(MAPPING_SELECTIONS);
  }

  /** The version selected per mapping name (names never switched are absent: their default applies). */
  selection(): Promise<MappingSelection> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at >= this.options.cacheMs) {
      const value = this.read();
      this.cached = { at: now, value };
      value.catch(() => {
        if (this.cached?.value === value) this.cached = undefined;
      });
    }
    return this.cached.value;
  }

  private async read(): Promise<MappingSelection> {
    const out: Record<string, string> = {};
    const docs = await this.collection.find({}, { projection: { name: 1, version: 1, selected_at: 1 } }).sort({ selected_at: -1, _id: -1 }).limit(10_000).toArray();
    for (const d of docs) out[d.name] ??= d.version;
    return out;
  }

  /** Every installed version of every mapping, the current one of each marked. */
  async installed(): Promise<InstalledMapping[]> {
    const selection = await this.selection();
    return this.registry.list().map((ref) => ({ ...ref, current: (selection[ref.name] ?? this.registry.byMappingName(ref.name)!.ref.version) === ref.version }));
  }

  /** Makes `version` the current version of mapping `name`; it must be installed in this process. */
  async select(name: string, version: string, actor: string): Promise<MappingSelectionDoc> {
    if (!this.registry.byVersion(name, version)) throw new UnknownMappingVersionError(`Mapping ${name} has no installed version ${version}`);
    const doc: MappingSelectionDoc = { _id: new ObjectId(), name, version, selected_at: new Date(), selected_by: actor };
    await this.collection.insertOne(doc);
    this.cached = undefined;
    return doc;
  }
}
