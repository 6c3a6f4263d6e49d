/**
 * Dictionaries in MongoDB, safe on FerretDB (no transactions, and conditional updates are not atomic there):
 * the only operation relied on for mutual exclusion is an insert with a deterministic `_id`.
 *
 * - `dictionary_contents`: immutable code lists. A content is written as parts of at most ~2 MB of JSON
 *   (`_id` = `<content_id>:<part>`), the codes gzip-compressed in one binary field: codes are only ever read whole
 *   into the in-process cache, never queried in the database, and one blob instead of thousands of subdocuments
 *   keeps FerretDB fast.
 * - `dictionary_versions`: one document per kept revision, `_id` = `<name>@<revision>`: metadata, counts, the content
 *   it points to, who/when/what (seed, create, replace, rollback, deactivate, activate) and the diff summary.
 *   Inserting it IS the commit: of two writers that both want revision N, exactly one insert succeeds.
 * - `dictionaries`: the current header per dictionary (`_id` = name), a copy of its newest version plus a `stamp`
 *   that changes with every commit; caches compare stamps. Written after the commit; a header left behind by a
 *   crashed writer is rolled forward by the next writer or at start-up.
 *
 * Revision numbers only grow (a rollback is a new revision pointing to an older content), so the current revision is
 * always the highest one.
 */
import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Binary, type Collection, type Db } from 'mongodb';
import { isDuplicateKey, type CollectionSpec } from '../platform/db/mongo.js';
import type { DiffSummary } from './diff.js';
import { fhirIdOf, type DictionaryCode, type DictionaryMeta } from './format.js';

const DICTIONARIES = 'dictionaries';
const DICTIONARY_VERSIONS = 'dictionary_versions';
const DICTIONARY_CONTENTS = 'dictionary_contents';

export const dictionaryCollections: CollectionSpec[] = [
  { name: DICTIONARIES, indexes: [] },
  { name: DICTIONARY_VERSIONS, indexes: [{ key: { name: 1, revision: -1 }, name: 'name_revision' }] },
  {
    name: DICTIONARY_CONTENTS,
    indexes: [
      { key: { content_id: 1, part: 1 }, name: 'content_part' },
      { key: { name: 1, created_at: 1 }, name: 'name_created' },
    ],
  },
];

export type ChangeAction = 'seed' | 'create' | 'replace' | 'rollback' | 'deactivate' | 'activate';

export interface Counts {
  code_count: number;
  active_count: number;
  language_counts: Record<string, number>;
}

export interface VersionDoc extends Counts {
  _id: string;
  name: string;
  revision: number;
  content_id: string;
  /** The revision that was current when this one was made (what a rollback returns to). */
  based_on: number | null;
  action: ChangeAction;
  at: Date;
  by: string;
  /** meta.version, for listings without the metadata. */
  version: string;
  meta: DictionaryMeta;
  diff?: DiffSummary;
  rolled_back_to?: number;
  code?: string;
}

export interface HeaderDoc extends Counts {
  _id: string;
  revision: number;
  content_id: string;
  stamp: string;
  meta: DictionaryMeta;
  aliases: string[];
  fhir_id: string;
  updated_at: Date;
  updated_by: string;
}

interface ContentPart {
  _id: string;
  content_id: string;
  name: string;
  part: number;
  parts: number;
  created_at: Date;
  code_count: number;
  /** gzip of the JSON array of this part's codes. */
  codes_gz: Binary;
}

/** What caches compare: small, read every DICTIONARY_CACHE_CHECK_MS. */
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
/** Contents no version refers to (a writer crashed or lost a race) are removed after this long. */
const ORPHAN_AGE_MS = 60 * 60 * 1000;

export function versionId(name: string, revision: number): string {
  return `${name}@${revision}`;
}

function stampOf(revision: number, contentId: string): string {
  return `${revision}.${contentId.slice(0, 8)}`;
}

/** Mongo field names cannot start with `$`: `$schema` is a file-only convenience and is not stored. */
export function storableMeta(meta: DictionaryMeta): DictionaryMeta {
  const { $schema: _ignored, ...rest } = meta;
  return rest;
}

function headerOf(v: VersionDoc, fhirId: string): HeaderDoc {
  return {
    _id: v.name,
    revision: v.revision,
    content_id: v.content_id,
    stamp: stampOf(v.revision, v.content_id),
    meta: v.meta,
    code_count: v.code_count,
    active_count: v.active_count,
    language_counts: v.language_counts,
    aliases: v.meta.aliases ?? [],
    fhir_id: fhirId,
    updated_at: v.at,
    updated_by: v.by,
  };
}

export class DictionaryStore {
  readonly headers: Collection<HeaderDoc>;
  readonly versions: Collection<VersionDoc>;
  readonly contents: Collection<ContentPart>;

  constructor(db: Db) {
    this.headers = db.collection<HeaderDoc>(DICTIONARIES);
    this.versions = db.collection<VersionDoc>(DICTIONARY_VERSIONS);
    this.contents = db.collection<ContentPart>(DICTIONARY_CONTENTS);
  }

  async stamps(): Promise<HeaderStamp[]> {
    return this.headers.find({}, { projection: { _id: 1, revision: 1, stamp: 1, aliases: 1, fhir_id: 1 } }).toArray() as Promise<HeaderStamp[]>;
  }

  header(name: string): Promise<HeaderDoc | null> {
    return this.headers.findOne({ _id: name });
  }

  allHeaders(): Promise<HeaderDoc[]> {
    return this.headers.find({}).sort({ _id: 1 }).toArray();
  }

  /** Kept versions of one dictionary (or of all, `name` undefined), newest first, without metadata. */
  listVersions(name?: string): Promise<Omit<VersionDoc, 'meta'>[]> {
    return this.versions
      .find(name === undefined ? {} : { name }, { projection: { meta: 0 } })
      .sort({ name: 1, revision: -1 })
      .toArray();
  }

  version(name: string, revision: number): Promise<VersionDoc | null> {
    return this.versions.findOne({ _id: versionId(name, revision) });
  }

  /** Writes a code list in parts; returns its id. */
  async writeContent(name: string, codes: readonly DictionaryCode[]): Promise<string> {
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
    for (const [i, part] of chunks.entries()) {
      await this.contents.insertOne({
        _id: `${contentId}:${i}`,
        content_id: contentId,
        name,
        part: i,
        parts: chunks.length,
        created_at: now,
        code_count: part.length,
        codes_gz: new Binary(gzipSync(JSON.stringify(part), { level: 6 })),
      });
    }
    return contentId;
  }

  async readCodes(contentId: string): Promise<DictionaryCode[] | undefined> {
    const docs = await this.contents.find({ content_id: contentId }).sort({ part: 1 }).toArray();
    if (docs.length === 0) return undefined;
    if (docs.length !== docs[0].parts || docs.some((d, i) => d.part !== i)) {
      throw new Error(`Dictionary content ${contentId} is incomplete (${docs.length} of ${docs[0].parts} parts)`);
    }
    return docs.flatMap((d) => JSON.parse(gunzipSync(d.codes_gz.buffer).toString('utf8')) as DictionaryCode[]);
  }

  async deleteContents(contentIds: string[]): Promise<void> {
    if (contentIds.length) await this.contents.deleteMany({ content_id: { $in: contentIds } });
  }

  /**
   * Commits a version: inserting `<name>@<revision>` succeeds for exactly one writer. The loser gets a ConflictError
   * (after the header has been brought up to date, in case the winner crashed before writing it).
   */
  async commit(version: VersionDoc, fhirId: string): Promise<HeaderDoc> {
    try {
      await this.versions.insertOne(version);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      await this.rollForward(version.name);
      throw new ConflictError(
        version.revision === 1 ? `Dictionary ${version.name} was created concurrently` : `Dictionary ${version.name} was changed concurrently; reload and try again`,
      );
    }
    const header = headerOf(version, fhirId);
    if (version.revision === 1) {
      // A new dictionary: usually no header yet, one insert (falls back to the general path).
      try {
        await this.headers.insertOne(header);
        return header;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    }
    await this.writeHeader(header);
    return header;
  }

  /** Sets the header unless it already shows this or a newer revision. */
  async writeHeader(header: HeaderDoc): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await this.headers.replaceOne({ _id: header._id, revision: { $lt: header.revision } }, header);
      if (r.matchedCount > 0) return;
      if (await this.headers.findOne({ _id: header._id }, { projection: { _id: 1 } })) return;
      try {
        await this.headers.insertOne(header);
        return;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    }
  }

  /** Brings the header of `name` (or of every dictionary) up to its newest version. Returns the names repaired. */
  async rollForward(name?: string): Promise<string[]> {
    const latest = new Map<string, number>();
    for (const v of await this.versions.find(name === undefined ? {} : { name }, { projection: { name: 1, revision: 1 } }).toArray()) {
      if ((latest.get(v.name) ?? 0) < v.revision) latest.set(v.name, v.revision);
    }
    const current = new Map((await this.headers.find(name === undefined ? {} : { _id: name }, { projection: { revision: 1, fhir_id: 1 } }).toArray()).map((h) => [h._id, h]));
    const repaired: string[] = [];
    for (const [n, revision] of latest) {
      const h = current.get(n);
      if (h && h.revision >= revision) continue;
      const v = await this.version(n, revision);
      if (!v) continue;
      await this.writeHeader(headerOf(v, fhirIdOf(v.meta)));
      repaired.push(n);
    }
    return repaired;
  }

  /**
   * Keeps the `keep` newest versions (and the current one); deletes contents no kept version refers to, and orphaned
   * contents older than an hour.
   */
  async prune(name: string, keep: number, currentRevision: number): Promise<void> {
    const all = await this.versions.find({ name }, { projection: { revision: 1, content_id: 1 } }).sort({ revision: -1 }).toArray();
    const dropped = all.filter((v, i) => i >= keep && v.revision !== currentRevision);
    if (dropped.length) await this.versions.deleteMany({ _id: { $in: dropped.map((v) => v._id) } });
    // Referenced contents read again after the delete, so a concurrent rollback's target is not removed under it.
    const referenced = await this.versions.distinct('content_id', { name });
    const gone = [...new Set(dropped.map((v) => v.content_id))].filter((id) => !referenced.includes(id));
    await this.deleteContents(gone);
    await this.contents.deleteMany({ name, content_id: { $nin: referenced }, created_at: { $lt: new Date(Date.now() - ORPHAN_AGE_MS) } });
  }
}
