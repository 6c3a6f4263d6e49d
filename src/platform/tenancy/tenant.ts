/**
 * Tenants: the legal entity a request acts for (the token's `client_id`) owns the data it writes. Every stored record
 * of a legal entity carries its tenant id, and every read filters by it; another tenant's record answers 404.
 *
 * A tenant id is the `client_id` as issued (a UUID in eHealth, any short id elsewhere): letters, digits, `.`, `_`,
 * `-`, 1–128 characters. The shape is enforced because tenant ids are part of database keys (`<tenant>|…`).
 */
const TENANT_RE = /^[A-Za-z0-9._-]{1,128}$/;

/** The system of the `meta.tag` that names the tenant of every FHIR resource. */
export const TENANT_TAG_SYSTEM = 'urn:hl7-engine:tenant';

export function isTenantId(value: unknown): value is string {
  return typeof value === 'string' && TENANT_RE.test(value);
}

/** A tenant id, or an Error naming what is wrong (for configuration and CLI input). */
export function assertTenantId(value: unknown, what = 'tenant id'): string {
  if (!isTenantId(value)) throw new Error(`${what} must be 1-128 letters, digits, ".", "_" or "-", got ${JSON.stringify(value)?.slice(0, 80)}`);
  return value;
}
