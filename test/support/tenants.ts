/**
 * The tenants of the test engines: TEST_TENANT receives every sample henvisning (its receivers' HER-ids, read from the
 * samples with the engine's own envelope parser) and signs Pridok webhooks with TEST_PRIDOK_SECRET; OTHER_TENANT is a
 * second legal entity with its own HER-id and secret, for isolation tests.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { dispatch } from '../../src/ingest/henvisning/service.js';
import { envelopeFromText } from '../../src/ingest/henvisning/envelope.js';
import { decodeXml, parseXmlTree } from '../../src/lib/xml/secure-xml.js';
import { sharedPath } from './shared.js';
import { signBody } from '../../src/ingest/pridok/service.js';

export const TEST_TENANT = 'le-1';
export const OTHER_TENANT = 'le-2';
export const TEST_PRIDOK_SECRET = 'pridok-test-secret-0123456789';
export const OTHER_PRIDOK_SECRET = 'pridok-other-secret-9876543210';
/** A receiver HER-id no sample uses, registered by OTHER_TENANT. */
export const OTHER_RECEIVER_HER_ID = '77777777';

let receivers: string[] | undefined;

/** The receiver HER-ids of every sample message in ../shared/fixtures/ehelse/samples. */
export function sampleReceiverHerIds(): string[] {
  if (receivers) return receivers;
  const out = new Set<string>();
  const root = sharedPath('fixtures', 'ehelse', 'samples');
  for (const folder of fs.readdirSync(root)) {
    const dir = `${root}/${folder}`;
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.xml'))) {
      const bytes = fs.readFileSync(`${dir}/${f}`);
      let ids: string[];
      try {
        const text = decodeXml(bytes, 1e8).text;
        ids = (dispatch(parseXmlTree(text)).env ?? envelopeFromText(text)).receiverHerIds;
      } catch {
        ids = envelopeFromText(bytes.toString('latin1')).receiverHerIds;
      }
      ids.forEach((i) => out.add(i));
    }
  }
  out.delete(OTHER_RECEIVER_HER_ID);
  return (receivers = [...out].sort());
}

/** HL7 v2 receiving facilities (MSH-6) of the test tenants. */
export const TEST_HL7_FACILITY = 'HOSP-A';
export const OTHER_HL7_FACILITY = 'HOSP-B';

export interface TenantSpec {
  id: string;
  hl7v2_receiving_facilities?: string[];
  henvisning_receiver_her_ids?: string[];
  pridok_webhook_secret?: string;
}

/** The TENANTS value of the test engines (override per engine with `env.TENANTS`). */
export function testTenants(extra: TenantSpec[] = []): string {
  return JSON.stringify([
    { id: TEST_TENANT, henvisning_receiver_her_ids: sampleReceiverHerIds(), pridok_webhook_secret: TEST_PRIDOK_SECRET, hl7v2_receiving_facilities: [TEST_HL7_FACILITY] },
    { id: OTHER_TENANT, henvisning_receiver_her_ids: [OTHER_RECEIVER_HER_ID], pridok_webhook_secret: OTHER_PRIDOK_SECRET, hl7v2_receiving_facilities: [OTHER_HL7_FACILITY] },
    ...extra,
  ]);
}

/** A valid Pridok referral payload (fresh JournalGuid); `over` replaces or (undefined) removes fields. */
export function pridokPayload(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    JournalGuid: randomUUID(),
    PID: '13116900216',
    FormatId: 'http://ehelse.no/xmlstds/henvisning/2017-11-30',
    MessageTimestamp: '2022-11-08T22:51:10.1127156Z',
    Firstname: 'Line',
    Lastname: 'Danser',
    Email: 'line.danser@example.com',
    PhoneNumber: '+4712345678',
    ...over,
  };
}

/** The headers of a signed Pridok delivery (X-Pridok-Timestamp now unless given, X-Pridok-Signature). */
export function pridokHeaders(raw: Buffer, secret = TEST_PRIDOK_SECRET, timestamp = String(Math.floor(Date.now() / 1000))): Record<string, string> {
  return { 'content-type': 'application/json', 'x-pridok-timestamp': timestamp, 'x-pridok-signature': signBody(secret, raw, timestamp) };
}
