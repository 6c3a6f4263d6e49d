/**
 * DictionaryService (`ctx.dictionaries`): what validators call (`getCode`, `isValidCode`) and what the admin API,
 * the CLI and the FHIR terminology routes use (list, page, export, replace, deactivate, rollback, seed).
 *
 * Cache: each engine instance keeps the dictionaries it has read in memory. Whether they are still current is decided
 * by the `stamp` of each header in the database, read at most every `cacheCheckMs` (DICTIONARY_CACHE_CHECK_MS; 0 =
 * on every lookup). A change made by this instance is visible to it at once; one made by another instance within
 * `cacheCheckMs`. No in-memory events, so any number of instances stay consistent.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from 'mongodb';
import { log } from '../platform/logging/logger.js';
import { diffDictionaries, isEmptyDiff, summarize, type DictionaryDiff } from './diff.js';
import { defaultLanguageOf, fhirIdOf, splitFile, validName, type DictionaryCode, type DictionaryFile, type DictionaryGroup, type DictionaryMeta } from './format.js';
import { compilePattern } from './pattern.js';
import { validateDictionary, type InvalidEntry } from './schema.js';
import { ConflictError, DictionaryStore, storableMeta, versionId, type ChangeAction, type HeaderDoc, type HeaderStamp, type VersionDoc } from './store.js';

interface DictionaryServiceOptions {
  /** How often (ms) the cache compares its stamps with the database; 0 = on every lookup. */
  cacheCheckMs: number;
  /** Revisions kept per dictionary (older contents are deleted). */
  versionsKept: number;
}

/** What validators get for a code. */
interface CodeView {
  code: string;
  display: Record<string, string>;
  active: boolean;
  parent?: string;
  definition?: Record<string, string>;
  properties?: Record<string, string | number | boolean>;
}

/** A dictionary as held in memory. Frozen: callers must not modify it. */
export interface LoadedDictionary {
  name: string;
  revision: number;
  stamp: string;
  meta: DictionaryMeta;
  codes: readonly DictionaryCode[];
  byCode: ReadonlyMap<string, DictionaryCode>;
  groups: ReadonlyMap<string, DictionaryGroup>;
  fhirId: string;
  updatedAt: Date;
  activeCount: number;
  languageCounts: Record<string, number>;
  normalize: { re: RegExp; replace: string }[];
}

export class DictionaryError extends Error {
  constructor(
    public readonly status: number,
    public readonly type: string,
    message: string,
    public readonly invalid?: InvalidEntry[],
    public readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DictionaryError';
  }
}

export interface ChangeResult {
  name: string;
  dry_run: boolean;
  /** False when the upload equals the current content (no new revision). */
  changed: boolean;
  created: boolean;
  from_revision: number | null;
  revision: number | null;
  diff: DictionaryDiff;
}

interface ReplaceOptions {
  dryRun?: boolean;
  by: string;
  /** Reject with 409 unless the current revision is this one (If-Match). */
  expectedRevision?: number;
  /** Codes of the current version missing from the upload: removed (default) or kept as inactive. */
  missing?: 'remove' | 'deactivate';
  action?: ChangeAction;
  /** Only create: when the dictionary exists already, leave it as it is (seeding). */
  createOnly?: boolean;
}

interface Summary {
  name: string;
  title?: string;
  version: string;
  revision: number;
  starter: boolean;
  languages: string[];
  default_language: string;
  code_count: number;
  active_count: number;
  language_counts: Record<string, number>;
  aliases: string[];
  fhir_id: string;
  updated_at: Date;
  updated_by: string;
  versions: { revision: number; action: ChangeAction; at: Date; by: string; version: string; code_count: number; based_on: number | null; rolled_back_to?: number; code?: string; diff?: unknown }[];
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

function counts(codes: readonly DictionaryCode[], languages: string[]) {
  const language_counts: Record<string, number> = {};
  for (const l of languages) language_counts[l] = 0;
  let active = 0;
  for (const c of codes) {
    if (c.active !== false) active++;
    for (const l of Object.keys(c.display)) language_counts[l] = (language_counts[l] ?? 0) + 1;
  }
  return { code_count: codes.length, active_count: active, language_counts };
}

function normalizeCodes(codes: readonly DictionaryCode[]): DictionaryCode[] {
  return codes.map((c) => ({ ...c, active: c.active !== false }));
}

export class DictionaryService {
  readonly store: DictionaryStore;
  private stampsByName = new Map<string, HeaderStamp>();
  private aliasIndex = new Map<string, string>();
  private fhirIndex = new Map<string, string>();
  private lastCheck = Number.NEGATIVE_INFINITY;
  private checking: { startedAt: number; promise: Promise<void> } | undefined;
  private lastLocalWrite = 0;
  private loaded = new Map<string, LoadedDictionary>();
  private loading = new Map<string, Promise<LoadedDictionary | undefined>>();
  private warnedUnknown = new Set<string>();

  constructor(
    db: Db,
    private readonly options: DictionaryServiceOptions,
  ) {
    this.store = new DictionaryStore(db);
  }

  // ---------------------------------------------------------------- lookups (cached)

  /** A code of a dictionary (by name or alias such as an OID or FHIR system); undefined when either is unknown. */
  async getCode(dictionary: string, code: string): Promise<CodeView | undefined> {
    const d = await this.get(dictionary);
    if (!d) return undefined;
    const c = findCode(d, code);
    return c ? viewOf(c) : undefined;
  }

  /** True when the code exists in the dictionary and is active. */
  async isValidCode(dictionary: string, code: string): Promise<boolean> {
    const d = await this.get(dictionary);
    if (!d || typeof code !== 'string') return false;
    return findCode(d, code)?.active === true;
  }

  /** The display of a code in the first of `languages` it has (else the dictionary's default language, else any). */
  async getDisplay(dictionary: string, code: string, languages: string[] = []): Promise<string | undefined> {
    const d = await this.get(dictionary);
    const c = d && findCode(d, code);
    if (!c) return undefined;
    for (const l of [...languages, defaultLanguageOf(d.meta)]) if (c.display[l]) return c.display[l];
    return Object.values(c.display)[0];
  }

  /** The whole current dictionary from the cache (by name, alias or FHIR id when `byFhirId`). */
  async get(nameOrAlias: string, opts: { byFhirId?: boolean } = {}): Promise<LoadedDictionary | undefined> {
    await this.ensureFresh();
    const name = opts.byFhirId ? this.fhirIndex.get(nameOrAlias) : this.resolveName(nameOrAlias);
    if (!name) {
      if (!opts.byFhirId && !this.warnedUnknown.has(nameOrAlias) && this.warnedUnknown.size < 1000) {
        this.warnedUnknown.add(nameOrAlias);
        log().warn({ dictionary: nameOrAlias.slice(0, 128) }, 'lookup in an unknown dictionary');
      }
      return undefined;
    }
    const stamp = this.stampsByName.get(name)!.stamp;
    const have = this.loaded.get(name);
    if (have && have.stamp === stamp) return have;
    return this.load(name);
  }

  /** Names of all current dictionaries (cached). */
  async names(): Promise<string[]> {
    await this.ensureFresh();
    return [...this.stampsByName.keys()].sort();
  }

  resolveName(nameOrAlias: string): string | undefined {
    if (this.stampsByName.has(nameOrAlias)) return nameOrAlias;
    return this.aliasIndex.get(nameOrAlias);
  }

  /** Forgets everything cached (tests; operators never need it). */
  clearCache(): void {
    this.loaded.clear();
    this.lastCheck = Number.NEGATIVE_INFINITY;
  }

  private async ensureFresh(): Promise<void> {
    const now = Date.now();
    if (now - this.lastCheck < this.options.cacheCheckMs) return;
    // Join a check that started recently enough; otherwise start one of our own.
    if (this.checking && this.checking.startedAt >= now - this.options.cacheCheckMs) return this.checking.promise;
    const startedAt = now;
    const promise = (async () => {
      const stamps = await this.store.stamps();
      // A check that started before one of our own writes may carry old stamps: apply only newer revisions.
      this.applyStamps(stamps, startedAt >= this.lastLocalWrite);
      this.lastCheck = startedAt;
    })();
    this.checking = { startedAt, promise };
    try {
      await promise;
    } finally {
      if (this.checking?.promise === promise) this.checking = undefined;
    }
  }

  private applyStamps(stamps: HeaderStamp[], complete: boolean): void {
    const next = new Map<string, HeaderStamp>();
    for (const s of stamps) {
      const known = this.stampsByName.get(s._id);
      next.set(s._id, known && known.revision > s.revision ? known : s);
    }
    if (!complete) for (const [name, s] of this.stampsByName) if (!next.has(name)) next.set(name, s);
    this.stampsByName = next;
    this.rebuildIndexes();
    for (const [name, d] of this.loaded) if (next.get(name)?.stamp !== d.stamp) this.loaded.delete(name);
  }

  private rebuildIndexes(): void {
    this.aliasIndex = new Map();
    this.fhirIndex = new Map();
    for (const s of this.stampsByName.values()) {
      for (const a of s.aliases ?? []) if (!this.stampsByName.has(a)) this.aliasIndex.set(a, s._id);
      this.fhirIndex.set(s.fhir_id, s._id);
    }
  }

  private noteLocalChange(h: Pick<HeaderDoc, '_id' | 'revision' | 'stamp' | 'aliases' | 'fhir_id'>): void {
    this.lastLocalWrite = Date.now();
    this.stampsByName.set(h._id, { _id: h._id, revision: h.revision, stamp: h.stamp, aliases: h.aliases, fhir_id: h.fhir_id });
    this.rebuildIndexes();
    this.loaded.delete(h._id);
  }

  private load(name: string): Promise<LoadedDictionary | undefined> {
    const pending = this.loading.get(name);
    if (pending) return pending;
    const p = (async () => {
      let h = await this.store.header(name);
      if (!h) return undefined;
      let codes = await this.store.readCodes(h.content_id);
      if (!codes) {
        // Changed and pruned between the two reads (very unlikely): read the header again.
        h = await this.store.header(name);
        codes = h ? await this.store.readCodes(h.content_id) : undefined;
        if (!h || !codes) return undefined;
      }
      const d = buildLoaded(h, codes);
      const known = this.stampsByName.get(name);
      if (!known || known.revision <= h.revision) {
        this.stampsByName.set(name, { _id: name, revision: h.revision, stamp: h.stamp, aliases: h.aliases, fhir_id: h.fhir_id });
        this.rebuildIndexes();
      }
      this.loaded.set(name, d);
      return d;
    })();
    this.loading.set(name, p);
    return p.finally(() => this.loading.delete(name));
  }

  // ---------------------------------------------------------------- admin reads (from the database)

  async list(): Promise<Summary[]> {
    const [headers, versions] = await Promise.all([this.store.allHeaders(), this.store.listVersions()]);
    const byName = new Map<string, Omit<VersionDoc, 'meta'>[]>();
    for (const v of versions) byName.set(v.name, [...(byName.get(v.name) ?? []), v]);
    return headers.map((h) => summaryOf(h, byName.get(h._id) ?? []));
  }

  async summary(name: string): Promise<Summary | undefined> {
    const h = await this.store.header(name);
    return h ? summaryOf(h, await this.store.listVersions(name)) : undefined;
  }

  /** The dictionary of a kept revision (default: current) in the file format. */
  async export(name: string, revision?: number): Promise<DictionaryFile | undefined> {
    const h = await this.store.header(name);
    if (!h) return undefined;
    let source: { meta: DictionaryMeta; content_id: string } = h;
    if (revision !== undefined && revision !== h.revision) {
      const v = await this.store.version(name, revision);
      if (!v) throw new DictionaryError(404, 'not_found', `Revision ${revision} of ${name} is not kept`);
      source = v;
    }
    const codes = await this.store.readCodes(source.content_id);
    if (!codes) throw new DictionaryError(404, 'not_found', `Content of revision ${revision ?? h.revision} of ${name} is gone`);
    return { ...source.meta, codes };
  }

  // ---------------------------------------------------------------- changes

  /** Replaces a whole dictionary (creates it when absent). Validates first; a dry run only computes the diff. */
  async replace(name: string, input: DictionaryFile, opts: ReplaceOptions): Promise<ChangeResult> {
    if (!validName(name)) throw new DictionaryError(422, 'validation_failed', `Invalid dictionary name "${name.slice(0, 200)}"`);
    if (input.name !== name) throw new DictionaryError(422, 'validation_failed', `The document's name "${input.name}" differs from the dictionary "${name}"`);
    const current = await this.current(name);
    if (current && opts.createOnly) {
      return { name, dry_run: !!opts.dryRun, changed: false, created: false, from_revision: current.header.revision, revision: current.header.revision, diff: diffDictionaries(undefined, { meta: current.meta, codes: [] }) };
    }
    checkExpected(name, current?.header.revision, opts.expectedRevision);
    let file = input;
    if (opts.missing === 'deactivate' && current) {
      const present = new Set(input.codes.map((c) => c.code));
      const kept = current.codes.filter((c) => !present.has(c.code)).map((c) => ({ ...c, active: false }));
      file = { ...input, codes: [...input.codes, ...kept] };
    }
    const result = validateDictionary(file);
    if (!result.valid) {
      throw new DictionaryError(422, 'validation_failed', `The dictionary is invalid (${result.total} problem${result.total === 1 ? '' : 's'})`, result.invalid, {
        invalid_total: result.total,
      });
    }
    await this.checkAliases(name, file);
    const { meta, codes } = splitFile(file);
    const newMeta = storableMeta(meta);
    const newCodes = normalizeCodes(codes);
    const diff = diffDictionaries(current ? { meta: current.meta, codes: current.codes } : undefined, { meta: newMeta, codes: newCodes });
    const base = { name, dry_run: !!opts.dryRun, created: !current, from_revision: current?.header.revision ?? null, diff };
    if (current && isEmptyDiff(diff)) return { ...base, changed: false, revision: current.header.revision };
    if (opts.dryRun) return { ...base, changed: true, revision: null };
    const revision = await this.commit(name, current?.header ?? null, newMeta, newCodes, {
      action: opts.action ?? (current ? 'replace' : 'create'),
      by: opts.by,
      diff,
    });
    log().info({ dictionary: name, revision, added: diff.added.length, removed: diff.removed.length, changed: diff.changed.length }, 'dictionary replaced');
    return { ...base, changed: true, revision };
  }

  /** Sets one code active or inactive (a new revision; nothing happens when it already is). */
  async setActive(name: string, code: string, active: boolean, opts: { by: string; expectedRevision?: number; dryRun?: boolean }): Promise<ChangeResult> {
    const current = await this.current(name);
    if (!current) throw new DictionaryError(404, 'not_found', `Dictionary ${name} not found`);
    checkExpected(name, current.header.revision, opts.expectedRevision);
    const index = current.codes.findIndex((c) => c.code === code);
    if (index < 0) throw new DictionaryError(404, 'not_found', `Code "${code.slice(0, 256)}" not found in ${name}`);
    const codes = current.codes.map((c, i) => (i === index ? { ...c, active } : c));
    const diff = diffDictionaries({ meta: current.meta, codes: current.codes }, { meta: current.meta, codes });
    const base = { name, dry_run: !!opts.dryRun, created: false, from_revision: current.header.revision, diff };
    if (isEmptyDiff(diff)) return { ...base, changed: false, revision: current.header.revision };
    if (opts.dryRun) return { ...base, changed: true, revision: null };
    const revision = await this.commit(name, current.header, current.meta, codes, { action: active ? 'activate' : 'deactivate', by: opts.by, diff, code });
    log().info({ dictionary: name, revision, active }, active ? 'dictionary code activated' : 'dictionary code deactivated');
    return { ...base, changed: true, revision };
  }

  /**
   * Returns to an earlier content as a new revision: by default the revision the current one was based on (so
   * repeated rollbacks walk back through the history), or any kept `toRevision`.
   */
  async rollback(name: string, opts: { by: string; toRevision?: number; expectedRevision?: number; dryRun?: boolean }): Promise<ChangeResult & { rolled_back_to: number }> {
    const current = await this.current(name);
    if (!current) throw new DictionaryError(404, 'not_found', `Dictionary ${name} not found`);
    const h = current.header;
    checkExpected(name, h.revision, opts.expectedRevision);
    const currentVersion = await this.store.version(name, h.revision);
    const targetRevision = opts.toRevision ?? currentVersion?.based_on ?? undefined;
    if (targetRevision === undefined || targetRevision === null) {
      throw new DictionaryError(409, 'request_conflict', `Revision ${h.revision} of ${name} has no previous version to roll back to`);
    }
    const target = await this.store.version(name, targetRevision);
    if (!target) {
      const kept = (await this.store.listVersions(name)).map((v) => v.revision).join(', ');
      throw new DictionaryError(opts.toRevision === undefined ? 409 : 404, opts.toRevision === undefined ? 'request_conflict' : 'not_found',
        `Revision ${targetRevision} of ${name} is not kept any more (kept: ${kept})`);
    }
    if (target.revision === h.revision) throw new DictionaryError(409, 'request_conflict', `Revision ${target.revision} is the current revision of ${name}`);
    const codes = await this.store.readCodes(target.content_id);
    if (!codes) throw new DictionaryError(409, 'request_conflict', `Content of revision ${target.revision} of ${name} is gone`);
    const content = { meta: target.meta, codes };
    const diff = diffDictionaries({ meta: current.meta, codes: current.codes }, content);
    const base = { name, dry_run: !!opts.dryRun, created: false, from_revision: h.revision, diff, rolled_back_to: target.revision };
    if (opts.dryRun) return { ...base, changed: !isEmptyDiff(diff), revision: null };
    const revision = await this.commit(name, h, content.meta, content.codes, {
      action: 'rollback',
      by: opts.by,
      diff,
      reuseContent: target.content_id,
      basedOn: target.based_on,
      rolledBackTo: target.revision,
    });
    log().info({ dictionary: name, revision, rolledBackTo: target.revision }, 'dictionary rolled back');
    return { ...base, changed: true, revision };
  }

  /**
   * Stores the shipped dictionaries (`dictionaries/*.json`) that are not in the database yet. Idempotent and safe
   * when several instances start at once (the first header insert wins; the others drop their copy).
   */
  async seed(dir: string): Promise<{ seeded: string[]; present: number }> {
    const files = listDictionaryFiles(dir);
    if (files.length === 0) log().warn({ dir }, 'no shipped dictionary files found (DICTIONARIES_DIR)');
    // Headers a crashed writer left behind are brought up to their newest version first.
    const repaired = await this.store.rollForward();
    if (repaired.length) log().warn({ dictionaries: repaired }, 'dictionary headers rolled forward to their newest version');
    const stamps = await this.store.stamps();
    const names = new Set(stamps.map((s) => s._id));
    // Files are named by FHIR id: a file whose dictionary is stored already is not even read.
    const ids = new Set(stamps.map((s) => s.fhir_id));
    const todo = files.filter((f) => !ids.has(path.basename(f, '.json')));
    const seeded: string[] = [];
    await eachLimit(todo, 4, async (file) => {
      const doc = readDictionaryFile(file);
      if (names.has(doc.name)) return;
      const clash = stamps.find((s) => (doc.aliases ?? []).some((a) => a === s._id || s.aliases?.includes(a)) || s.aliases?.includes(doc.name));
      if (clash) {
        log().warn({ dictionary: doc.name, other: clash._id }, 'shipped dictionary not stored: its name or an alias is used by another dictionary');
        return;
      }
      const { meta, codes } = splitFile(doc);
      const newMeta = storableMeta(meta);
      const newCodes = normalizeCodes(codes);
      try {
        await this.commit(doc.name, null, newMeta, newCodes, { action: 'seed', by: 'system', diff: diffDictionaries(undefined, { meta: newMeta, codes: newCodes }) });
        seeded.push(doc.name);
      } catch (err) {
        if (err instanceof DictionaryError && err.status === 409) return; // another instance stored it first
        throw err;
      }
    });
    if (seeded.length) log().info({ count: seeded.length }, 'shipped dictionaries stored');
    return { seeded: seeded.sort(), present: files.length - seeded.length };
  }

  // ---------------------------------------------------------------- internals

  private async current(name: string): Promise<{ header: HeaderDoc; meta: DictionaryMeta; codes: DictionaryCode[] } | undefined> {
    const header = await this.store.header(name);
    if (!header) return undefined;
    const codes = await this.store.readCodes(header.content_id);
    if (!codes) throw new Error(`Dictionary ${name}: current content ${header.content_id} missing`);
    return { header, meta: header.meta, codes };
  }

  private async checkAliases(name: string, file: DictionaryFile): Promise<void> {
    const stamps = await this.store.stamps();
    const fhirId = fhirIdOf(file);
    for (const s of stamps) {
      if (s._id === name) continue;
      const clash = (file.aliases ?? []).find((a) => a === s._id || (s.aliases ?? []).includes(a));
      if (clash) throw new DictionaryError(409, 'request_conflict', `Alias "${clash}" is already used by dictionary ${s._id}`);
      if ((s.aliases ?? []).includes(name)) throw new DictionaryError(409, 'request_conflict', `The name ${name} is an alias of dictionary ${s._id}`);
      if (s.fhir_id === fhirId) throw new DictionaryError(409, 'request_conflict', `FHIR id "${fhirId}" is already used by dictionary ${s._id}; set fhir.id`);
    }
  }

  private async commit(
    name: string,
    base: HeaderDoc | null,
    meta: DictionaryMeta,
    codes: DictionaryCode[],
    how: { action: ChangeAction; by: string; diff: DictionaryDiff; code?: string; reuseContent?: string; basedOn?: number | null; rolledBackTo?: number },
  ): Promise<number> {
    const contentId = how.reuseContent ?? (await this.store.writeContent(name, codes));
    const revision = (base?.revision ?? 0) + 1;
    const version: VersionDoc = {
      _id: versionId(name, revision),
      name,
      revision,
      content_id: contentId,
      based_on: how.basedOn !== undefined ? how.basedOn : (base?.revision ?? null),
      action: how.action,
      at: new Date(),
      by: how.by,
      version: meta.version,
      meta,
      ...counts(codes, meta.languages),
      diff: summarize(how.diff),
      ...(how.rolledBackTo !== undefined ? { rolled_back_to: how.rolledBackTo } : {}),
      ...(how.code !== undefined ? { code: how.code } : {}),
    };
    let header: HeaderDoc;
    try {
      header = await this.store.commit(version, fhirIdOf(meta));
    } catch (err) {
      if (!how.reuseContent) await this.store.deleteContents([contentId]).catch(() => {});
      if (err instanceof ConflictError) throw new DictionaryError(409, 'request_conflict', err.message);
      throw err;
    }
    this.noteLocalChange(header);
    if (base) {
      await this.store
        .prune(name, this.options.versionsKept, revision)
        .catch((err: Error) => log().warn({ dictionary: name, err: { message: err.message } }, 'pruning old dictionary versions failed'));
    }
    return revision;
  }
}

async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function checkExpected(name: string, actual: number | undefined, expected: number | undefined): void {
  if (expected !== undefined && actual !== expected) {
    throw new DictionaryError(409, 'request_conflict', `${name} is at revision ${actual ?? 'none'}, not ${expected}`, undefined, { current_revision: actual ?? null });
  }
}

/** A code as written, or one of its normalised forms (ICPC-2 K31 → -31). */
export function findCode(d: LoadedDictionary, code: string): DictionaryCode | undefined {
  const exact = d.byCode.get(code);
  if (exact) return exact;
  for (const rule of d.normalize) {
    if (rule.re.test(code)) {
      const c = d.byCode.get(code.replace(rule.re, rule.replace));
      if (c) return c;
    }
  }
  return undefined;
}

function viewOf(c: DictionaryCode): CodeView {
  const v: CodeView = { code: c.code, display: c.display, active: c.active };
  if (c.parent !== undefined) v.parent = c.parent;
  if (c.definition) v.definition = c.definition;
  if (c.properties) v.properties = c.properties;
  return v;
}

/**
 * The normalisation rules on RE2. A rule stored before uploads were checked against RE2 and that RE2 cannot compile
 * is left out (and logged) rather than run on a backtracking engine.
 */
function normalizeRules(name: string, rules: readonly { pattern: string; replace: string }[]): { re: RegExp; replace: string }[] {
  return rules.flatMap((r, index) => {
    try {
      return [{ re: compilePattern(r.pattern), replace: r.replace }];
    } catch (err) {
      log().warn({ dictionary: name, rule: index, reason: (err as Error).message }, 'normalize rule skipped: RE2 cannot compile its pattern');
      return [];
    }
  });
}

function buildLoaded(h: HeaderDoc, codes: DictionaryCode[]): LoadedDictionary {
  const normalized = normalizeCodes(codes);
  const meta = h.meta;
  return deepFreeze({
    name: h._id,
    revision: h.revision,
    stamp: h.stamp,
    meta,
    codes: normalized,
    byCode: new Map(normalized.map((c) => [c.code, c])),
    groups: new Map((meta.hierarchy?.groups ?? []).map((g) => [g.code, g])),
    fhirId: h.fhir_id,
    updatedAt: h.updated_at,
    activeCount: h.active_count,
    languageCounts: h.language_counts,
    normalize: normalizeRules(h._id, meta.normalize ?? []),
  });
}

function summaryOf(h: HeaderDoc, versions: Omit<VersionDoc, 'meta'>[]): Summary {
  return {
    name: h._id,
    title: h.meta.title,
    version: h.meta.version,
    revision: h.revision,
    starter: h.meta.starter === true,
    languages: h.meta.languages,
    default_language: defaultLanguageOf(h.meta),
    code_count: h.code_count,
    active_count: h.active_count,
    language_counts: h.language_counts,
    aliases: h.aliases,
    fhir_id: h.fhir_id,
    updated_at: h.updated_at,
    updated_by: h.updated_by,
    versions: [...versions]
      .sort((a, b) => b.revision - a.revision)
      .map((e) => ({
        revision: e.revision,
        action: e.action,
        at: e.at,
        by: e.by,
        version: e.version,
        code_count: e.code_count,
        based_on: e.based_on,
        ...(e.rolled_back_to !== undefined ? { rolled_back_to: e.rolled_back_to } : {}),
        ...(e.code !== undefined ? { code: e.code } : {}),
        ...(e.diff ? { diff: e.diff } : {}),
      })),
  };
}

/** `*.json` files of a folder that are dictionaries (not `*.schema.json`), sorted. */
export function listDictionaryFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json'))
    .sort()
    .map((f) => path.join(dir, f));
}

export function readDictionaryFile(file: string): DictionaryFile {
  let doc: DictionaryFile;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8')) as DictionaryFile;
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const result = validateDictionary(doc);
  if (!result.valid) {
    throw new Error(`${file}: invalid dictionary: ${result.invalid.slice(0, 5).map((i) => `${i.entry} ${i.rules[0].description}`).join('; ')}`);
  }
  return doc;
}
