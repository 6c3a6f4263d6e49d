/**
 * The tenants of an installation and what routes inbound messages to them (TENANTS or TENANTS_FILE, JSON):
 *
 *   [{ "id": "<client_id of the legal entity>",
 *      "name": "Clinic A",                                   optional, for operators
 *      "henvisning_receiver_her_ids": ["8094", "8095"],      HER-ids this tenant receives henvisning messages for
 *      "pridok_webhook_secret": "<at least 16 characters>",  optional: the secret its Pridok webhooks are signed with
 *      "hl7v2_receiving_facilities": ["HOSP-A", "LAB^HOSP-B"] }]  HL7 v2 receivers (MSH-6, or MSH-5^MSH-6) it owns
 *
 * A HER-id belongs to at most one tenant and a webhook secret to exactly one, so a message names its owner without
 * doubt: a henvisning belongs to the tenant that registered its receiver's HER-id, a Pridok delivery to the tenant
 * whose secret signed it, an HL7 v2 message to the tenant that registered its receiving application^facility (that
 * pair first, else the facility alone).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { normaliseIntegerId } from '../../lib/identifiers/norwegian-ids.js';
import { isTenantId } from './tenant.js';

export interface TenantConfig {
  id: string;
  name?: string;
  henvisningReceiverHerIds: string[];
  pridokWebhookSecret?: string;
  /** HL7 v2 receivers: `FACILITY` (MSH-6, any application) or `APPLICATION^FACILITY` (MSH-5^MSH-6). */
  hl7v2ReceivingFacilities: string[];
}

/** Parses and checks the tenants' JSON; throws an Error whose message names the offending entry. */
export function parseTenants(json: string): TenantConfig[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error('must be a JSON array of tenants');
  }
  if (!Array.isArray(raw)) throw new Error('must be a JSON array of tenants');
  const out: TenantConfig[] = [];
  const herOwner = new Map<string, string>();
  const secrets = new Set<string>();
  const hl7Owner = new Map<string, string>();
  raw.forEach((t: unknown, i: number) => {
    const at = `entry ${i}`;
    if (!t || typeof t !== 'object' || Array.isArray(t)) throw new Error(`${at} must be an object`);
    const o = t as Record<string, unknown>;
    const unknown = Object.keys(o).filter((k) => !['id', 'name', 'henvisning_receiver_her_ids', 'pridok_webhook_secret', 'hl7v2_receiving_facilities'].includes(k));
    if (unknown.length > 0) throw new Error(`${at} has unknown field(s): ${unknown.join(', ')}`);
    if (!isTenantId(o.id)) throw new Error(`${at}: "id" must be the legal entity's client_id (1-128 letters, digits, ".", "_", "-")`);
    if (out.some((x) => x.id === o.id)) throw new Error(`${at}: tenant "${o.id}" is listed twice`);
    if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length > 200)) throw new Error(`${at}: "name" must be a string`);
    const her = o.henvisning_receiver_her_ids ?? [];
    if (!Array.isArray(her) || her.some((h) => typeof h !== 'string' || !/^\d{1,12}$/.test(h))) {
      throw new Error(`${at}: "henvisning_receiver_her_ids" must be an array of HER-ids (digits, as strings)`);
    }
    const herIds = (her as string[]).map(normaliseIntegerId);
    for (const h of herIds) {
      const owner = herOwner.get(h);
      if (owner !== undefined) throw new Error(`${at}: HER-id ${h} is already registered by tenant "${owner}"`);
      herOwner.set(h, o.id);
    }
    const secret = o.pridok_webhook_secret;
    if (secret !== undefined) {
      if (typeof secret !== 'string' || secret.length < 16) throw new Error(`${at}: "pridok_webhook_secret" must be at least 16 characters`);
      if (secrets.has(secret)) throw new Error(`${at}: "pridok_webhook_secret" is used by another tenant`);
      secrets.add(secret);
    }
    const hl7 = o.hl7v2_receiving_facilities ?? [];
    if (!Array.isArray(hl7) || hl7.some((f) => typeof f !== 'string' || !/^([^^|~\\&\s][^^|~\\&]{0,99}\^)?[^^|~\\&\s][^^|~\\&]{0,99}$/.test(f))) {
      throw new Error(`${at}: "hl7v2_receiving_facilities" must be an array of "FACILITY" or "APPLICATION^FACILITY" strings`);
    }
    for (const f of hl7 as string[]) {
      const owner = hl7Owner.get(f);
      if (owner !== undefined) throw new Error(`${at}: HL7 v2 receiving facility ${f} is already registered by tenant "${owner}"`);
      hl7Owner.set(f, o.id);
    }
    out.push({
      id: o.id,
      name: o.name as string | undefined,
      henvisningReceiverHerIds: herIds,
      pridokWebhookSecret: secret as string | undefined,
      hl7v2ReceivingFacilities: hl7 as string[],
    });
  });
  return out;
}

export class TenantDirectory {
  private readonly byHerId = new Map<string, string>();
  private readonly byHl7Receiver = new Map<string, string>();

  constructor(readonly tenants: TenantConfig[]) {
    for (const t of tenants) for (const h of t.henvisningReceiverHerIds) this.byHerId.set(h, t.id);
    for (const t of tenants) for (const f of t.hl7v2ReceivingFacilities ?? []) this.byHl7Receiver.set(f, t.id);
  }

  /** The tenant that registered an HL7 v2 receiver: `application^facility` first, else `facility`. */
  hl7v2TenantOf(application: string, facility: string): string | undefined {
    if (facility === '') return undefined;
    return this.byHl7Receiver.get(`${application}^${facility}`) ?? this.byHl7Receiver.get(facility);
  }

  /** The HL7 v2 receivers a tenant registered. */
  hl7v2Receivers(tenant: string): string[] {
    return this.tenants.find((t) => t.id === tenant)?.hl7v2ReceivingFacilities ?? [];
  }

  /** The HER-ids a tenant receives henvisning messages for. */
  receiverHerIds(tenant: string): Set<string> {
    return new Set(this.tenants.find((t) => t.id === tenant)?.henvisningReceiverHerIds ?? []);
  }

  /** The tenant that registered one of these receiver HER-ids, if any. */
  ownerOfReceiver(herIds: string[]): string | undefined {
    for (const h of herIds) {
      const t = this.byHerId.get(h);
      if (t) return t;
    }
    return undefined;
  }

  /** Whether any tenant accepts Pridok webhooks. */
  get pridokEnabled(): boolean {
    return this.tenants.some((t) => t.pridokWebhookSecret !== undefined);
  }

  /**
   * The tenant whose webhook secret produced `signature` (hex HMAC-SHA256 of `signed`). Every secret is tried, each
   * compared in constant time, so the time taken does not say which tenant, if any, matched.
   */
  pridokTenantOf(signed: Buffer, signatureHex: string): string | undefined {
    const given = Buffer.from(signatureHex, 'hex');
    let found: string | undefined;
    for (const t of this.tenants) {
      if (!t.pridokWebhookSecret) continue;
      const expected = createHmac('sha256', t.pridokWebhookSecret).update(signed).digest();
      if (given.length === expected.length && timingSafeEqual(given, expected) && found === undefined) found = t.id;
    }
    return found;
  }
}
