/**
 * Registry records in MongoDB: one collection per registry, `_id` = record id, audit fields set here.
 * Writes are upserts keyed by id (idempotent: loading the same file twice changes nothing); every record of a batch
 * is validated before anything is written.
 */
import type { Collection, Db, Filter } from 'mongodb';
import type { ValidateFunction } from 'ajv';
import { ajvToInvalid, createAjv, validationFailed, type InvalidEntry, type ValidationFailedBody } from '../platform/http/validation-error.js';
import { RegistryCache } from './cache.js';
import { registryByName, registryDefinitions, type RegistryDefinition } from './definitions.js';
import type { AuditFields, RegistryName, RegistryRecordMap } from './types.js';

type StoredRecord<N extends RegistryName> = RegistryRecordMap[N] & Partial<AuditFields>;

export class RegistryValidationError extends Error {
  constructor(readonly body: ValidationFailedBody) {
    super('Registry records failed validation');
    this.name = 'RegistryValidationError';
  }
}

export interface UpsertSummary {
  inserted: number;
  updated: number;
  unchanged: number;
}

type Doc = Record<string, unknown> & { _id: string };

const AUDIT = ['inserted_at', 'inserted_by', 'updated_at', 'updated_by'];

function toRecord<T>(doc: Doc | null): T | undefined {
  if (!doc) return undefined;
  const { _id, ...rest } = doc;
  return { id: _id, ...rest } as T;
}

function content(doc: Record<string, unknown>): string {
  const copy: Record<string, unknown> = {};
  for (const k of Object.keys(doc).sort()) if (!AUDIT.includes(k) && k !== '_id' && k !== 'id') copy[k] = doc[k];
  return JSON.stringify(copy);
}

export class RegistryStore {
  private readonly validators = new Map<RegistryName, ValidateFunction>();
  private readonly cache: RegistryCache;

  /** `cacheCheckMs`: see RegistryCache (get/find are cached; list/count always read the database). */
  constructor(
    private readonly db: Db,
    opts: { cacheCheckMs?: number } = {},
  ) {
    this.cache = new RegistryCache(db, opts.cacheCheckMs ?? 0);
    const ajv = createAjv();
    for (const d of registryDefinitions) this.validators.set(d.name, ajv.compile(d.schema));
  }

  definition(name: string): RegistryDefinition | undefined {
    return registryByName.get(name as RegistryName);
  }

  collection<N extends RegistryName>(name: N): Collection<Doc> {
    return this.db.collection<Doc>(registryByName.get(name)!.collection);
  }

  /** Validation entries for one record (paths prefixed with `prefix`, e.g. "$[3]"), empty when valid. */
  validate(name: RegistryName, record: unknown, prefix = '$'): InvalidEntry[] {
    const validate = this.validators.get(name)!;
    if (validate(record)) return [];
    return ajvToInvalid(validate.errors, record).map((e) => ({ ...e, entry: prefix + e.entry.slice(1) }));
  }

  async get<N extends RegistryName>(name: N, id: string): Promise<StoredRecord<N> | undefined> {
    if (typeof id !== 'string' || id === '') return undefined;
    return this.cache.read(name, `get\u0000${id}`, async () => toRecord<StoredRecord<N>>(await this.collection(name).findOne({ _id: id })));
  }

  async find<N extends RegistryName>(name: N, filter: Filter<Doc>, limit = 1000): Promise<StoredRecord<N>[]> {
    return this.cache.read(name, `find\u0000${limit}\u0000${JSON.stringify(filter)}`, async () => {
      const docs = await this.collection(name).find(filter).limit(limit).toArray();
      return docs.map((d) => toRecord<StoredRecord<N>>(d)!);
    });
  }

  async list<N extends RegistryName>(
    name: N,
    filter: Filter<Doc>,
    page: number,
    pageSize: number,
  ): Promise<{ records: StoredRecord<N>[]; total: number }> {
    const col = this.collection(name);
    const [docs, total] = await Promise.all([
      col.find(filter).sort({ _id: 1 }).skip((page - 1) * pageSize).limit(pageSize).toArray(),
      col.countDocuments(filter),
    ]);
    return { records: docs.map((d) => toRecord<StoredRecord<N>>(d)!), total };
  }

  async count(name: RegistryName): Promise<number> {
    return this.collection(name).countDocuments({});
  }

  /** Validates every record, then upserts them by id. Throws RegistryValidationError (nothing written) if any is invalid. */
  async upsertMany(name: RegistryName, records: unknown[], actor: string, pathPrefix?: (i: number) => string): Promise<UpsertSummary> {
    const invalid: InvalidEntry[] = [];
    const seen = new Set<string>();
    records.forEach((r, i) => {
      const prefix = pathPrefix ? pathPrefix(i) : `$[${i}]`;
      const entries = this.validate(name, r, prefix);
      invalid.push(...entries);
      if (entries.length === 0) {
        const id = (r as { id: string }).id;
        if (seen.has(id)) {
          invalid.push({
            entry_type: 'json_data_property',
            entry: `${prefix}.id`,
            rules: [{ rule: 'unique', params: [], description: `id ${id} appears more than once in the batch` }],
          });
        }
        seen.add(id);
      }
    });
    if (invalid.length) throw new RegistryValidationError(validationFailed(invalid.slice(0, 500)));

    const col = this.collection(name);
    await this.cache.changed(name);
    const summary: UpsertSummary = { inserted: 0, updated: 0, unchanged: 0 };
    const BATCH = 500;
    for (let start = 0; start < records.length; start += BATCH) {
      const batch = records.slice(start, start + BATCH) as (Record<string, unknown> & { id: string })[];
      const existing = new Map(
        (await col.find({ _id: { $in: batch.map((r) => r.id) } }).toArray()).map((d) => [d._id, d] as const),
      );
      const now = new Date();
      const ops = [];
      for (const r of batch) {
        const { id, ...fields } = r;
        const prev = existing.get(id);
        if (prev && content(prev) === content(fields)) {
          summary.unchanged++;
          continue;
        }
        const doc: Doc = {
          _id: id,
          ...fields,
          inserted_at: (prev?.inserted_at as Date | undefined) ?? now,
          inserted_by: (prev?.inserted_by as string | undefined) ?? actor,
          updated_at: now,
          updated_by: actor,
        };
        ops.push({ replaceOne: { filter: { _id: id }, replacement: doc, upsert: true } });
        if (prev) summary.updated++;
        else summary.inserted++;
      }
      if (ops.length) await col.bulkWrite(ops, { ordered: false });
    }
    await this.cache.changed(name);
    return summary;
  }

  async remove(name: RegistryName, id: string): Promise<boolean> {
    await this.cache.changed(name);
    const res = await this.collection(name).deleteOne({ _id: id });
    await this.cache.changed(name);
    return res.deletedCount === 1;
  }
}
