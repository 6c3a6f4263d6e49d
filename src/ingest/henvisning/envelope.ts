/**
 * Facts read from a referral's envelope — MsgHead v1.2 (`MsgInfo`), or the `Message`/`ServReq` of Henvisning v1.0/v1.1
 * (no MsgHead: the parties are `Requester/HCP` and `ServProvider/HCP`) — or from the raw text when it cannot be
 * parsed; and the business checks that decide a negative AppRec (error codes of the ehelse AppRec specification,
 * code system 8221): E10 MsgId not a UUID, E30 patient without FNR/D-nummer, E31 wrong check digits, E21 receiver not
 * in the configured HER-id allow-list. Organisation numbers failing mod 11 only warn.
 */
import { isValidOrganisationNumber, normaliseIntegerId, validatePersonNumber } from '../../lib/identifiers/norwegian-ids.js';
import type { PartySummary } from '../message-store.js';
import type { XmlElement, XmlValue } from '../../lib/xml/secure-xml.js';
import { partyFromHcp, partyFromOrganisation, type AppRecError, type AppRecParty, type Cs } from './apprec.js';

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
  /** The party that sent the referral / the one it is addressed to, as the AppRec echoes them. */
  sender: AppRecParty;
  receiver: AppRecParty;
  senderSummary?: PartySummary;
  receiverSummary?: PartySummary;
  /** HER-ids of the receiver (organisation and departments), as integers. */
  receiverHerIds: string[];
  /** Organisation numbers (ENH) of both parties: warned about when they fail mod 11. */
  orgNumbers: string[];
  patient?: { ids: { type?: string; id: string }[]; hasBirthAndSex: boolean };
}

const EMPTY_PARTY: AppRecParty = { idents: [], depts: [], persons: [] };

function orgTree(o: XmlElement | undefined): XmlElement[] {
  return o ? [o, ...all(o.Organisation).flatMap(orgTree)] : [];
}

/** MsgHead v1.2: everything from MsgInfo. */
export function envelopeOf(msgHead: XmlElement): Envelope {
  const info = el(msgHead.MsgInfo);
  const senderOrg = el(el(info?.Sender)?.Organisation);
  const receiverOrg = el(el(info?.Receiver)?.Organisation);
  const patient = el(info?.Patient);
  return {
    msgId: text(info?.MsgId),
    genDate: text(info?.GenDate),
    type: cs(info?.Type),
    sender: partyFromOrganisation(senderOrg),
    receiver: partyFromOrganisation(receiverOrg),
    senderSummary: summariseParty(senderOrg),
    receiverSummary: summariseParty(receiverOrg),
    receiverHerIds: herIds(receiverOrg),
    orgNumbers: [...orgTree(senderOrg), ...orgTree(receiverOrg)].flatMap((o) =>
      all(o.Ident)
        .filter((i) => el(i.TypeId)?.V === 'ENH')
        .map((i) => text(i.Id) ?? ''),
    ),
    patient: patient
      ? {
          ids: all(patient.Ident).map((i) => ({ type: el(i.TypeId)?.V as string | undefined, id: text(i.Id) ?? '' })),
          hasBirthAndSex: !!text(patient.DateOfBirth) && !!el(patient.Sex)?.V,
        }
      : undefined,
  };
}

/** Henvisning v1.0 / v1.1 (`Message` root): parties in ServReq/Requester and ServReq/ServProvider (HCP). */
export function envelopeOfV1(message: XmlElement): Envelope {
  const req = el(message.ServReq);
  const senderHcp = el(el(req?.Requester)?.HCP);
  const receiverHcp = el(el(req?.ServProvider)?.HCP);
  const patient = el(req?.Patient);
  const hcpIds = (hcp: XmlElement | undefined, kind: string) => {
    const inst = el(hcp?.Inst);
    return [inst, ...all(inst?.Dept)]
      .filter((x): x is XmlElement => !!x && el(x.TypeId)?.V === kind)
      .map((x) => text(x.Id) ?? '')
      .filter(Boolean);
  };
  const offId = text(patient?.OffId);
  return {
    msgId: text(message.MsgId),
    genDate: tsValue(message.GenDate),
    type: cs(message.Type),
    sender: senderHcp ? partyFromHcp(senderHcp) : EMPTY_PARTY,
    receiver: receiverHcp ? partyFromHcp(receiverHcp) : EMPTY_PARTY,
    senderSummary: summariseHcp(senderHcp),
    receiverSummary: summariseHcp(receiverHcp),
    receiverHerIds: hcpIds(receiverHcp, 'HER').map(normaliseIntegerId),
    orgNumbers: [...hcpIds(senderHcp, 'ENH'), ...hcpIds(receiverHcp, 'ENH')],
    patient: patient
      ? {
          ids: offId ? [{ type: el(patient.TypeOffId)?.V as string | undefined, id: offId }] : [],
          hasBirthAndSex: !!tsValue(patient.DateOfBirth) && !!el(patient.Sex)?.V,
        }
      : undefined,
  };
}

/** A KITH TS value: `<X V="…"/>` (or element text). */
function tsValue(v: XmlValue | undefined): string | undefined {
  const e = el(v);
  if (e && typeof e.V === 'string') return e.V;
  return text(v);
}

function summariseHcp(hcp: XmlElement | undefined): PartySummary | undefined {
  const inst = el(hcp?.Inst);
  if (!inst) return undefined;
  const one = (x: XmlElement): PartySummary => {
    const out: PartySummary = {};
    const name = text(x.Name);
    if (name) out.name = name;
    const id = text(x.Id);
    const type = el(x.TypeId)?.V;
    if (id && typeof type === 'string' && ['HER', 'ENH', 'RSH', 'NPR', 'AKO', 'LOK', 'SYS'].includes(type)) out.ids = [{ type, value: id }];
    return out;
  };
  const top = one(inst);
  const dept = el(inst.Dept);
  if (dept) top.department = one(dept);
  return top;
}

/** Best effort for messages that cannot be parsed: MsgId, GenDate and Type from the text. */
export function envelopeFromText(textValue: string): Envelope {
  const pick = (re: RegExp) => re.exec(textValue)?.[1]?.trim();
  return {
    msgId: pick(/<(?:[\w.-]+:)?MsgId>\s*([^<]{1,200}?)\s*<\//),
    genDate: pick(/<(?:[\w.-]+:)?GenDate>\s*([^<]{1,60}?)\s*<\//) ?? pick(/<(?:[\w.-]+:)?GenDate\s+V="([^"]{1,60})"/),
    type: { V: pick(/<(?:[\w.-]+:)?Type\s+[^>]*?V="([^"]{1,100})"/) },
    sender: EMPTY_PARTY,
    receiver: EMPTY_PARTY,
    receiverHerIds: [],
    orgNumbers: [],
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
  /** When set, the receiver (or one of its departments) must have one of these HER-ids (E21 otherwise; an empty set
   *  refuses every receiver). */
  receiverHerIds?: Set<string>;
}

/** Business checks on a schema-valid referral. */
export function checkMessage(env: Envelope, opts: CheckOptions): CheckResult {
  const errors: AppRecError[] = [];
  const warnings: string[] = [];
  if (!env.msgId || !UUID.test(env.msgId)) {
    errors.push({ code: 'E10', detail: 'MsgId must be a UUID' });
  }
  if (opts.receiverHerIds) {
    if (!env.receiverHerIds.some((id) => opts.receiverHerIds!.has(id))) {
      errors.push({ code: 'E21', detail: `Receiver HER-id ${env.receiverHerIds.join(', ') || '(none)'} is not served for this legal entity` });
    }
  }
  const idents = env.patient?.ids ?? [];
  const national = idents.filter((i) => i.type === 'FNR' || i.type === 'DNR');
  const others = idents.filter((i) => i.type === 'FHN' || i.type === 'HNR' || i.type === 'DUF');
  if (!env.patient) {
    errors.push({ code: 'E30', detail: 'The patient is missing' });
  } else if (national.length === 0) {
    if (others.length === 0 || (others.every((o) => o.type === 'HNR') && !env.patient.hasBirthAndSex)) {
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
  for (const id of env.orgNumbers) {
    if (id && !isValidOrganisationNumber(id)) warnings.push(`Organisasjonsnummer ${id} fails the mod-11 check`);
  }
  return { errors, warnings };
}
