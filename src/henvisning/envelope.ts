/**
 * Facts read from a MsgHead envelope (parsed tree, or the raw text when it cannot be parsed) and the business checks
 * that decide a negative AppRec (NOTES.md §4–5): E10 MsgId not a UUID, E30 patient without FNR/D-nummer, E31 wrong
 * check digits, E21 receiver not in the configured HER-id allow-list. Organisation numbers failing mod 11 only warn.
 */
import { isValidOrganisationNumber, normaliseIntegerId, validatePersonNumber } from '../identifiers/norwegian-ids.js';
import type { PartySummary } from '../messages/store.js';
import type { XmlElement, XmlValue } from '../xml/secure-xml.js';
import type { AppRecError, Cs } from './apprec.js';

export const MSGHEAD_NS = 'http://www.kith.no/xmlstds/msghead/2006-05-24';
export const HENVISNING_V2_NS = 'http://ehelse.no/xmlstds/henvisning/2017-11-30';
export const HENVISNING_V11_NS = 'http://www.kith.no/xmlstds/henvisning/2012-02-15';
export const HENVISNING_V10_NS = 'http://www.kith.no/xmlstds/henvisning/2005-07-08';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function el(v: XmlValue | undefined): XmlElement | undefined {
  const x = Array.isArray(v) ? v[0] : v;
  return x && typeof x === 'object' ? x : undefined;
}

export function all(v: XmlValue | undefined): XmlElement[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is XmlElement => typeof x === 'object' && x !== null);
}

export function text(v: XmlValue | undefined): string | undefined {
  const x = Array.isArray(v) ? v[0] : v;
  if (typeof x === 'string') return x.trim() === '' ? undefined : x.trim();
  if (x && typeof x === 'object' && typeof x._text === 'string') return x._text.trim();
  return undefined;
}

function cs(v: XmlValue | undefined): Cs {
  const e = el(v);
  return e ? { V: typeof e.V === 'string' ? e.V : undefined, DN: typeof e.DN === 'string' ? e.DN : undefined } : {};
}

export interface Envelope {
  msgId?: string;
  genDate?: string;
  type: Cs;
  senderOrg?: XmlElement;
  receiverOrg?: XmlElement;
}

export function envelopeOf(msgHead: XmlElement): Envelope {
  const info = el(msgHead.MsgInfo);
  return {
    msgId: text(info?.MsgId),
    genDate: text(info?.GenDate),
    type: cs(info?.Type),
    senderOrg: el(el(info?.Sender)?.Organisation),
    receiverOrg: el(el(info?.Receiver)?.Organisation),
  };
}

/** Best effort for messages that cannot be parsed: MsgId, GenDate and Type from the text. */
export function envelopeFromText(textValue: string): Envelope {
  const pick = (re: RegExp) => re.exec(textValue)?.[1]?.trim();
  return {
    msgId: pick(/<(?:[\w.-]+:)?MsgId>\s*([^<]{1,200}?)\s*<\//),
    genDate: pick(/<(?:[\w.-]+:)?GenDate>\s*([^<]{1,60}?)\s*<\//),
    type: { V: pick(/<(?:[\w.-]+:)?Type\s+[^>]*?V="([^"]{1,100})"/) },
  };
}

/** The first Document of type XML and the namespace of its content's root element. */
export function mainContent(msgHead: XmlElement): { ns?: string; name?: string; node?: XmlElement } {
  const docs = all(msgHead.Document);
  const main = docs.find((d) => el(el(d.RefDoc)?.MsgType)?.V === 'XML') ?? docs[0];
  const content = el(el(main?.RefDoc)?.Content);
  if (!content) return {};
  for (const [name, value] of Object.entries(content)) {
    if (name === '_ns' || name === '_text') continue;
    const node = el(value);
    return { ns: node?._ns ?? content._ns ?? MSGHEAD_NS, name, node };
  }
  return {};
}

/** Organisation names and ids of a MsgHead party (no persons): what the message store keeps about sender/receiver. */
export function summariseParty(org: XmlElement | undefined): PartySummary | undefined {
  if (!org) return undefined;
  const ids = all(org.Ident)
    .map((i) => ({ type: el(i.TypeId)?.V ?? '', value: text(i.Id) ?? '' }))
    .filter((i) => i.value !== '' && ['HER', 'ENH', 'RSH', 'NPR', 'AKO', 'LOK', 'SYS'].includes(String(i.type)))
    .map((i) => ({ type: String(i.type), value: i.value }));
  const child = el(org.Organisation);
  const out: PartySummary = {};
  const name = text(org.OrganisationName);
  if (name) out.name = name;
  if (ids.length > 0) out.ids = ids;
  const dept = summariseParty(child);
  if (dept) out.department = dept;
  return out;
}

/** Every HER-id in an organisation tree (the organisation and its departments), as integers. */
export function herIds(org: XmlElement | undefined): string[] {
  if (!org) return [];
  const own = all(org.Ident)
    .filter((i) => el(i.TypeId)?.V === 'HER')
    .map((i) => normaliseIntegerId(text(i.Id) ?? ''))
    .filter((x) => x !== '');
  return [...own, ...all(org.Organisation).flatMap((o) => herIds(o))];
}

export interface CheckResult {
  errors: AppRecError[];
  warnings: string[];
}

export interface CheckOptions {
  /** When set, the receiver (or one of its departments) must have one of these HER-ids (E21 otherwise). */
  receiverHerIds?: Set<string>;
}

/** Business checks on a schema-valid MsgHead + Henvisning. */
export function checkMessage(msgHead: XmlElement, env: Envelope, opts: CheckOptions): CheckResult {
  const errors: AppRecError[] = [];
  const warnings: string[] = [];
  if (!env.msgId || !UUID.test(env.msgId)) {
    errors.push({ code: 'E10', detail: 'MsgId must be a UUID' });
  }
  if (opts.receiverHerIds && opts.receiverHerIds.size > 0) {
    const ids = herIds(env.receiverOrg);
    if (!ids.some((id) => opts.receiverHerIds!.has(id))) {
      errors.push({ code: 'E21', detail: `Receiver HER-id ${ids.join(', ') || '(none)'} is not served here` });
    }
  }
  const patient = el(el(msgHead.MsgInfo)?.Patient);
  const idents = all(patient?.Ident).map((i) => ({ type: el(i.TypeId)?.V, id: text(i.Id) ?? '' }));
  const national = idents.filter((i) => i.type === 'FNR' || i.type === 'DNR');
  const others = idents.filter((i) => i.type === 'FHN' || i.type === 'HNR' || i.type === 'DUF');
  if (!patient) {
    errors.push({ code: 'E30', detail: 'MsgInfo/Patient is missing' });
  } else if (national.length === 0) {
    const hasLocal = others.length > 0;
    const hasBirth = !!text(patient.DateOfBirth) && !!el(patient.Sex)?.V;
    if (!hasLocal || (others.every((o) => o.type === 'HNR') && !hasBirth)) {
      errors.push({ code: 'E30', detail: 'Patient has no fødselsnummer or D-nummer (nor FHN, or local number with birth date and sex)' });
    }
  }
  for (const n of national) {
    const r = validatePersonNumber(n.id);
    if (!r.valid) {
      errors.push({ code: 'E31', detail: `Patient ${n.type === 'DNR' ? 'D-nummer' : 'fødselsnummer'} is invalid (${r.reason === 'check_digit' ? 'check digits' : r.reason})` });
    } else {
      if (n.type === 'FNR' && r.kind === 'DNR') warnings.push('Patient identifier typed FNR is a D-nummer');
      if (r.kind === 'TEST') warnings.push('Patient identifier is a synthetic test number');
    }
  }
  // Organisation numbers: warn only (the sample ENH 999888777 fails mod 11).
  const orgs: XmlElement[] = [];
  const collect = (o: XmlElement | undefined) => {
    if (!o) return;
    orgs.push(o);
    all(o.Organisation).forEach(collect);
  };
  collect(env.senderOrg);
  collect(env.receiverOrg);
  for (const o of orgs) {
    for (const i of all(o.Ident)) {
      const id = text(i.Id);
      if (el(i.TypeId)?.V === 'ENH' && id && !isValidOrganisationNumber(id)) {
        warnings.push(`Organisasjonsnummer ${id} fails the mod-11 check`);
      }
    }
  }
  return { errors, warnings };
}
