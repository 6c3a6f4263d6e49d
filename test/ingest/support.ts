/**
 * Helpers of the ingestion tests: samples (through shared.ts only), posting XML, reading AppRecs, message views.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SCHEMA_DIR } from '../../src/ingest/henvisning/service.js';
import { parseXmlTree, decodeXml, type XmlElement } from '../../src/lib/xml/secure-xml.js';
import { SchemaSet } from '../../src/lib/xml/xsd.js';
import type { TestEngine } from '../support/harness.js';
import { readShared, sharedPath } from '../support/shared.js';

export const SAMPLE_DIR = ['fixtures', 'ehelse', 'samples', 'henvisning-v2.0'];

export function sampleNames(folder = 'henvisning-v2.0'): string[] {
  return fs.readdirSync(sharedPath('fixtures', 'ehelse', 'samples', folder)).filter((f) => f.endsWith('.xml')).sort();
}

export function sample(name: string, folder = 'henvisning-v2.0'): Buffer {
  return readShared('fixtures', 'ehelse', 'samples', folder, name);
}

export function sampleText(name: string): string {
  return sample(name).toString('utf8');
}

/** The sample with a fresh MsgId (and optionally other replacements). */
export function variant(name: string, replace: [string | RegExp, string][] = [], msgId: string = randomUUID()): string {
  let t = sampleText(name).replace(/<MsgId>[^<]*<\/MsgId>/, `<MsgId>${msgId}</MsgId>`);
  for (const [a, b] of replace) {
    const before = t;
    t = t.replace(a, b);
    if (t === before) throw new Error(`variant(${name}): "${String(a)}" not found`);
  }
  return t;
}

export const appRecSchema = SchemaSet.load(path.join(SCHEMA_DIR, 'AppRec-v1.1.xsd'));

export interface AppRecView {
  status: string;
  errors: { V: string; OT?: string; S?: string }[];
  originalId?: string;
  xml: string;
  root: XmlElement;
}

export function readAppRec(xml: string): AppRecView {
  const tree = parseXmlTree(decodeXml(Buffer.from(xml, 'utf8'), 1e7).text);
  if (tree.name !== 'AppRec' || typeof tree.node !== 'object') throw new Error(`Not an AppRec: ${xml.slice(0, 200)}`);
  const root = tree.node;
  const status = (root.Status as XmlElement).V as string;
  const errs = root.Error === undefined ? [] : Array.isArray(root.Error) ? root.Error : [root.Error];
  const original = root.OriginalMsgId as XmlElement;
  return {
    status,
    errors: (errs as XmlElement[]).map((e) => ({ V: e.V as string, OT: e.OT as string | undefined, S: e.S as string | undefined })),
    originalId: original.Id as string,
    xml,
    root,
  };
}

export async function postXml(
  e: TestEngine,
  body: string | Buffer,
  opts: { token?: string | null; contentType?: string } = {},
): Promise<Response> {
  const token = opts.token === undefined ? await e.token('messages:write') : opts.token;
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/xml' };
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch(`${e.url}/api/messages`, { method: 'POST', headers, body: typeof body === 'string' ? body : new Uint8Array(body) });
}

/** Posts and expects an AppRec (HTTP 200, application/xml, valid against AppRec-v1.1.xsd). */
export async function ingest(e: TestEngine, body: string | Buffer): Promise<AppRecView & { messageId: string; duplicate: boolean }> {
  const res = await postXml(e, body);
  const text = await res.text();
  if (res.status !== 200) {
    let why = '';
    const id = /"message_id":"([^"]+)"/.exec(text)?.[1];
    if (id) why = JSON.stringify((await getMessage(e, id, true)).error);
    throw new Error(`Expected 200 AppRec, got ${res.status}: ${text.slice(0, 500)} ${why}`);
  }
  if (!/^application\/xml/.test(res.headers.get('content-type') ?? '')) throw new Error(`AppRec content type ${res.headers.get('content-type')}`);
  const v = appRecSchema.validate(Buffer.from(text, 'utf8'));
  if (!v.ok) throw new Error(`AppRec does not validate against AppRec-v1.1.xsd: ${JSON.stringify(v.problems)}`);
  return { ...readAppRec(text), messageId: res.headers.get('x-message-id') ?? '', duplicate: res.headers.get('x-duplicate') === 'true' };
}

export interface MessageView {
  id: string;
  status: string;
  error?: { code: string; message: string; details?: unknown };
  fhir?: { reference: string; action: string; versionId?: string }[];
  mapping?: { name: string; version: string; sha256: string };
  receipt?: { kind: string; status: string; body?: string };
  raw?: { encoding: string; content: string };
  external_id?: string;
  warnings?: string[];
  runs: { trigger: string; status: string }[];
  [k: string]: unknown;
}

export async function getMessage(e: TestEngine, id: string, full = false): Promise<MessageView> {
  const token = await e.token(full ? 'messages:read messages:read_raw' : 'messages:read');
  const res = await fetch(`${e.url}/api/messages/${id}${full ? '?include_raw=true' : ''}`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`GET message ${id}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { data: MessageView }).data;
}

export function refOf(m: MessageView, type: string): string {
  const r = m.fhir?.find((f) => f.reference.startsWith(`${type}/`));
  if (!r) throw new Error(`Message ${m.id} produced no ${type}`);
  return r.reference;
}
