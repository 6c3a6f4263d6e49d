/**
 * The FHIR store as its consumers see it: the narrow interface a domain service takes (the repository of one tenant
 * satisfies it), so it depends on what it uses, not on the repository's internals.
 */
import type { Resource } from '@medplum/fhirtypes';
import { fhirStatus } from './errors.js';

/**
 * The FHIR repository of one tenant, as far as other concerns use it: the one definition every consumer picks its
 * part from (`Pick<TenantFhirStore, 'read' | 'create'>`); FhirRepository satisfies it.
 */
export interface TenantFhirStore {
  /** The tenant whose resources this store reads and writes. */
  readonly tenant: string;
  create<T extends Resource>(resource: T, opts?: { id?: string }): Promise<T>;
  /** `repair: false`: no repair of a writer that stopped half-way (see FhirRepository.readStored). */
  read<T extends Resource>(type: string, id: string, opts?: { repair?: boolean }): Promise<T>;
  update<T extends Resource>(resource: T, opts?: { ifMatchVersion?: string }): Promise<T>;
  search<T extends Resource>(type: string, params: Record<string, string | string[]>): Promise<{ resources: T[]; total?: number }>;
  searchOne<T extends Resource>(type: string, params: Record<string, string | string[]>): Promise<T | undefined>;
}

/** What the domain services (consultations, billing) use: read, write and search. */
export type FhirStore = Pick<TenantFhirStore, 'create' | 'read' | 'update' | 'search'>;

export { fhirStatus };

/** The resource, or undefined when it does not exist or was deleted. */
export async function readOrUndefined<T extends Resource>(fhir: FhirStore, type: string, id: string): Promise<T | undefined> {
  try {
    return await fhir.read<T>(type, id);
  } catch (err) {
    const status = fhirStatus(err);
    if (status === 404 || status === 410) return undefined;
    throw err;
  }
}

export type AuditInteraction = 'read' | 'vread' | 'search-type' | 'history-instance' | 'create' | 'update' | 'delete';

export interface AuditRecord {
  interaction: AuditInteraction;
  /** Resource type the request was about. */
  type: string;
  userId: string;
  /** The tenant the request acted in: the AuditEvent is stored there. */
  tenant: string;
  clientId?: string;
  /** Remote address of the client. */
  address?: string;
  /** The query string of a search (stored base64 in entity.query, never logged). */
  query?: string;
  /** Resources returned (references are recorded, capped). */
  resources: Resource[];
  outcome?: '0' | '4' | '8';
  requestId?: string;
}

/** Where reads and searches of personal data are recorded as AuditEvents (AuditLog in the FHIR API writes them). */
export interface AuditTrail {
  record(rec: AuditRecord): Promise<void>;
}
