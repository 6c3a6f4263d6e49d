/**
 * Dictionaries in MongoDB, without transactions (FerretDB):
 *
 * - `dictionary_versions`: immutable contents. A content is written as parts of at most ~2 MB of JSON each
 *   (`_id` = `<content_id>:<part>`), the codes gzip-compressed in one binary field (codes are only ever read whole
 *   into the in-process cache, never queried in the database; one blob instead of thousands of subdocuments keeps
 *   FerretDB fast); part 0 also holds the metadata. Contents are never modified, only deleted when no kept revision
 *   refers to them any more.
 * - `dictionaries`: one header per dictionary (`_id` = name): the current revision, the content it points to, a
 *   `stamp` that changes with every change (caches compare it), counts, and the kept history of revisions.
 *
 * A change writes the new content first and then switches the header with one conditional update on the stamp it
 * started from (optimistic concurrency: of two concurrent writers one wins, the other gets a conflict and its content
 * is removed). Revision numbers only grow; a rollback is a new revision pointing to an older content.
 */
import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Binary, type Collection, type Db } from 'mongodb';
import type { CollectionSpec } from '../db/mongo.js';
import type { DiffSummary } from './diff.js';
import type { DictionaryCode, DictionaryMeta } from './format.js';

export const DICTIONARIES = 'dictionaries';
export const DICTIONARY_VERSIONS = 'dictionary_versions';

export const dictionaryCollections: CollectionSpec[] = [
  { name: DICTIONARIES, indexes: [] },
  {
    name: DICTIONARY_VERSIONS,
    indexes: [
      { key: { content_id: 1, part: 1 }, name: 'content_part' },
      { key: { name: 1, created_at: 1 }, name: 'name_created' },
    ],
  },
];

export type ChangeAction = 'seed' | 'replace' | 'rollback' | 'deactivate' | 'activate';

export interface HistoryEntry {
  revision: number;
  content_id: string;
  /** The revision that was current when this one was made (what a rollback returns to). */
  based_on: number | null;
  action: ChangeAction;
  at: Date;
  by: string;
  version: string;
  code_count: number;
  diff?: DiffSummary;
  rolled_back_to?: number;
  code?: string;
}

export interface HeaderDoc {
  _id: string;
  revision: number;
  latest_revision: number;
  content_id: string;
  stamp: string;
  meta: DictionaryMeta;
  code_count: number;
  active_count: number;
  language_counts: Record<string, number>;
  aliases: string[];
  fhir_id: string;
  updated_at: Date;
  updated_by: string;
  history: HistoryEntry[];
}

interface PartDoc {
  _id: string;
  content_id: string;
  name: string;
  part: number;
  parts: number;
  created_at: Date;
  meta?: DictionaryMeta;
  code_count: number;
  /** gzip of the JSON array of this part's codes. */
  codes_gz: Binary;
}

/** Projection of what caches compare: small, read every DICTIONARY_CACHE_CHECK_MS. */
export interface HeaderStamp {
  _id: string;
  revision: number;
  stamp: string;
  aliases: string[];
  fhir_id: string;
}

export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

const PART_BYTES = 2 * 1024 * 1024;
const PART_CODES = 10_000;
/** Contents no header refers to (a writer crashed between writing and switching) are removed after this long. */
const ORPHAN_AGE_MS = 60 * 60 * 1000;

export function stampOf(revision: number, contentId: string): string {
  return `${revision}.${contentId.slice(0, 8)}`;
}

/** Mongo field names cannot start with `$`: `$schema` is a file-only convenience and is not stored. */
export function storableMeta(meta: DictionaryMeta): DictionaryMeta {
  const { $schema: _ignored, ...rest } = meta;
  return rest;
}

export class DictionaryStore {
  readonly headers: Collection<HeaderDoc>;
  readonly parts: Collection<PartDoc>;

  constructor(db: Db) {
    this.headers = db.collection<HeaderDoc>(DICTIONARIES);
    this.parts = db.collection<PartDoc>(DICTIONARY_VERSIONS);
  }

  async stamps(): Promise<HeaderStamp[]> {
    return this.headers.find({}, { projection: { _id: 1, revision: 1, stamp: 1, aliases: 1, fhir_id: 1 } }).toArray() as Promise<HeaderStamp[]>;
  }

  async header(name: string, withHistory = true): Promise<HeaderDoc | null> {
    return this.headers.findOne({ _id: name }, withHistory ? {} : { projection: { history: 0 } });
  }

  async allHeaders(): Promise<HeaderDoc[]> {
    return this.headers.find({}).sort({ _id: 1 }).toArray();
  }

  /** Writes a content in parts; returns its id. */
  async writeContent(name: string, meta: DictionaryMeta, codes: readonly DictionaryCode[]): Promise<string> {
    const contentId = randomUUID();
    const chunks: DictionaryCode[][] = [];
    let chunk: DictionaryCode[] = [];
    let bytes = 0;
    for (const c of codes) {
      const size = JSON.stringify(c).length + 16;
      if (chunk.length > 0 && (bytes + size > PART_BYTES || chunk.length >= PART_CODES)) {
        chunks.push(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push(c);
      bytes += size;
    }
    chunks.push(chunk);
    const now = new Date();
    const docs: PartDoc[] = chunks.map((part, i) => ({
      _id: `${contentId}:${i}`,
      content_id: contentId,
      name,
      part: i,
      parts: chunks.length,
      created_at: now,
      ...(i === 0 ? { meta: storableMeta(meta) } : {}),
      code_count: part.length,
      codes_gz: new Binary(gzipSync(JSON.stringify(part), { level: 6 })),
    }));
    for (const doc of docs) await this.parts.insertOne(doc);
    return contentId;
  }

  async readContent(contentId: string): Promise<{ meta: DictionaryMeta; codes: DictionaryCode[] } | undefined> {
    const docs = await this.parts.find({ content_id: contentId }).sort({ part: 1 }).toArray();
    if (docs.length === 0) return undefined;
    if (docs.length !== docs[0].parts || docs.some((d, i) => d.part !== i) || !docs[0].meta) {
      throw new Error(`Dictionary content ${contentId} is incomplete (${docs.length} of ${docs[0].parts} parts)`);
    }
    const codes = docs.flatMap((d) => JSON.parse(gunzipSync(d.codes_gz.buffer).toString('utf8')) as DictionaryCode[]);
    return { meta: docs[0].meta, codes };
  }

  async deleteContents(contentIds: string[]): Promise<void> {
    if (contentIds.length) await this.parts.deleteMany({ content_id: { $in: contentIds } });
  }

  /** Creates the header of a new dictionary; ConflictError when it exists already. */
  async create(header: HeaderDoc): Promise<void> {
    try {
      await this.headers.insertOne(header);
    } catch (err) {
      if ((err as { code?: number }).code === 11000) throw new ConflictError(`Dictionary ${header._id} was created concurrently`);
      throw err;
    }
  }

  /** Switches an existing header if it still has `expectedStamp`; ConflictError otherwise. */
  async switchTo(name: string, expectedStamp: string, set: Omit<HeaderDoc, '_id' | 'history'>, entry: HistoryEntry): Promise<void> {
    const r = await this.headers.updateOne({ _id: name, stamp: expectedStamp }, { $set: set, $push: { history: entry } });
    if (r.matchedCount === 0) throw new ConflictError(`Dictionary ${name} was changed concurrently; reload and try again`);
  }

  /**
   * Keeps the `keep` most recent revisions (and the current one); deletes contents no kept revision refers to, and
   * orphaned contents older than an hour.
   */
  async prune(name: string, keep: number): Promise<void> {
    const h = await this.header(name);
    if (!h) return;
    const sorted = [...h.history].sort((a, b) => b.revision - a.revision);
    const kept = sorted.filter((e, i) => i < keep || e.revision === h.revision);
    if (kept.length < sorted.length) {
      const r = await this.headers.updateOne({ _id: name, stamp: h.stamp }, { $set: { history: kept.sort((a, b) => a.revision - b.revision) } });
      if (r.matchedCount === 0) return; // changed meanwhile: the next change prunes
    }
    const referenced = [...new Set(kept.map((e) => e.content_id))];
    const dropped = [...new Set(sorted.filter((e) => !kept.includes(e)).map((e) => e.content_id))].filter((id) => !referenced.includes(id));
    await this.deleteContents(dropped);
    await this.parts.deleteMany({ name, content_id: { $nin: referenced }, created_at: { $lt: new Date(Date.now() - ORPHAN_AGE_MS) } });
  }
}
