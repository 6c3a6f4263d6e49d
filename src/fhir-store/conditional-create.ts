/** Conditional create (If-None-Exist) in the repository of one tenant. */
import { createHash, randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';
import type { Resource } from '@medplum/fhirtypes';
import { claimWithTakeover, releaseClaim } from '../platform/db/claims.js';
import { conflict, FhirError, preconditionFailed } from './errors.js';
import { searchKeys } from './search-keys.js';
import { matchesAll, type ParsedSearch, type ParseOptions } from './search-params.js';
import type { SearchPage } from './search.js';
import type { CurrentDoc } from './stored-docs.js';

/** The operations of the tenant's repository a conditional create uses. */
interface ConditionalCreateRepository {
  readonly tenant: string;
  parse(type: string, params: Record<string, string | string[] | undefined>, opts?: ParseOptions): ParsedSearch;
  searchPage<T extends Resource>(ps: ParsedSearch): Promise<SearchPage<T>>;
  create<T extends Resource>(resource: T, opts?: { id?: string }): Promise<T>;
  readStored(type: string, id: string): Promise<CurrentDoc | undefined>;
}

/** Conditional create: how long the creator keeps its claim, when a claim counts as dead, how long others wait. */
const INE_HOLD_MS = 5_000;
const INE_STALE_MS = 30_000;
const INE_WAIT_MS = 10_000;

/**
 * Conditional create (If-None-Exist): no match → create (201); one match → that resource (200); several → 412.
 *
 * Concurrent conditional creates with the same criteria create one resource: the creator claims
 * `fhir-ine:<Type>:<hash of the criteria>` (unique insert) naming the id it is about to create, and keeps the claim
 * for a few seconds after creating; the others read that id from the claim and answer with the resource it
 * created. A claim whose holder died is taken over after INE_STALE_MS.
 */
export async function conditionalCreate<T extends Resource>(
  repo: ConditionalCreateRepository,
  /** The database of the claims. */
  db: Db,
  resource: T,
  query: Record<string, string | string[]>,
): Promise<{ resource: T; created: boolean }> {
  const type = resource.resourceType;
  const ps = repo.parse(type, { ...query, _count: '2' });
  if (ps.unknown.length > 0) throw new FhirError(400, 'not-supported', `Unknown search parameter(s) in If-None-Exist: ${ps.unknown.join(', ')}`);
  if (ps.conditions.length === 0 && !ps.ids) throw new FhirError(400, 'invalid', 'If-None-Exist holds no search criteria');
  const existing = async (): Promise<T | undefined> => {
    const page = await repo.searchPage<T>({ ...ps });
    if (page.matches.length > 1) throw preconditionFailed('If-None-Exist matches more than one resource');
    return page.matches[0];
  };
  const criteria = Object.entries(query)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${x}`))
    .sort()
    .join('&');
  const key = `fhir-ine:${repo.tenant}:${type}:${createHash('sha256').update(criteria).digest('hex')}`;
  const deadline = Date.now() + INE_WAIT_MS;
  for (;;) {
    const found = await existing();
    if (found) return { resource: found, created: false };
    const id = randomUUID();
    const claimed = await claimWithTakeover(db, key, INE_STALE_MS, id);
    if (claimed.key !== undefined) {
      const held = claimed.key;
      try {
        const again = await existing(); // a creator that finished just before our claim
        if (again) {
          await releaseClaim(db, held);
          return { resource: again, created: false };
        }
        const created = await repo.create({ ...resource, id } as T, { id });
        setTimeout(() => void releaseClaim(db, held).catch(() => undefined), INE_HOLD_MS).unref();
        return { resource: created, created: true };
      } catch (err) {
        await releaseClaim(db, held).catch(() => undefined);
        throw err;
      }
    }
    // Another request is creating (or just created) a resource for the same criteria: answer with it.
    if (claimed.holder.by) {
      const theirs = await repo.readStored(type, claimed.holder.by).catch(() => undefined);
      if (theirs?.r && !theirs.deleted && matchesAll(ps, { ...theirs, ...searchKeys(theirs.r) })) return { resource: theirs.r as T, created: false };
    }
    if (Date.now() > deadline) throw conflict('A concurrent conditional create with the same criteria did not finish; try again');
    await new Promise((r) => setTimeout(r, 25));
  }
}
