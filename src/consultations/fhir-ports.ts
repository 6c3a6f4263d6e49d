/**
 * The parts of other concerns the consultation service uses, as narrow interfaces (ctx.fhir, ctx.dictionaries and
 * ctx.media satisfy them). Keeps this folder independent of their internals and easy to test.
 */
import type { Resource } from '@medplum/fhirtypes';

export interface FhirStore {
  create<T extends Resource>(resource: T, opts?: { id?: string }): Promise<T>;
  read<T extends Resource>(type: string, id: string): Promise<T>;
  update<T extends Resource>(resource: T, opts?: { ifMatchVersion?: string }): Promise<T>;
  search<T extends Resource>(type: string, params: Record<string, string | string[]>): Promise<{ resources: T[]; total?: number }>;
}

export interface CodeDictionary {
  isValidCode(dictionary: string, code: string): Promise<boolean>;
  getCode?(dictionary: string, code: string): Promise<{ code: string; display: Record<string, string>; active: boolean } | undefined>;
}

/** FhirError-like: anything with an HTTP status. */
import { fhirStatus } from '../fhir/errors.js';

export { fhirStatus };

export async function readOrUndefined<T extends Resource>(fhir: FhirStore, type: string, id: string): Promise<T | undefined> {
  try {
    return await fhir.read<T>(type, id);
  } catch (err) {
    const status = fhirStatus(err);
    if (status === 404 || status === 410) return undefined;
    throw err;
  }
}
