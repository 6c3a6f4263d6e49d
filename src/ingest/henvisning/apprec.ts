/**
 * AppRec v1.1 (applikasjonskvittering) built per the ehelse AppRec specification HIS 80415:2012 and its examples:
 * Status from code system 8258 (1 OK, 2 Avvist), errors from 8221, Sender = the party that received the referral
 * (Role PRIM), Receiver = the party that sent it (Role AVS), MsgHead Organisation → HCP/Inst, child Organisation →
 * Inst/Dept, HealthcareProfessional → Inst/HCPerson, every Ident echoed (first as Id/TypeId, the rest as AdditionalId),
 * OriginalMsgId = received MsgInfo/Type, GenDate and MsgId.
 */
import { randomUUID } from 'node:crypto';
import { escapeXml, type XmlElement, type XmlValue } from '../../lib/xml/secure-xml.js';

export const APPREC_NS = 'http://www.kith.no/xmlstds/apprec/2012-02-15';
const S_8221 = '2.16.578.1.12.4.1.1.8221';

/** Code system 8221 (general errors), Norwegian display texts. */
export const APPREC_ERRORS = {
  T01: 'Ikke XML / ikke "well formed" / uleselig',
  T02: 'XML validerer ikke',
  T10: 'Støtter ikke meldingsformatet',
  T99: 'Annen feil på format',
  E10: 'Ugyldig meldingsidentifikator',
  E20: 'Lege finnes ikke',
  E21: 'Mottaker finnes ikke',
  E30: 'Pasientens fødselsnummer mangler',
  E31: 'Pasientens fødselsnummer er feil',
  E32: 'Pasientens navn mangler',
  X99: 'Annen feil',
} as const;

export type AppRecErrorCode = keyof typeof APPREC_ERRORS;

export interface AppRecError {
  code: AppRecErrorCode;
  /** Explanation for the sender (original text, OT); no more than 500 characters are sent. */
  detail?: string;
}

export interface Cs {
  V?: string;
  DN?: string;
}

interface Ident {
  id: string;
  type: Cs;
}

interface Person {
  name?: string;
  idents: Ident[];
}

interface Dept {
  name?: string;
  idents: Ident[];
}

/** One party of the message, as the AppRec echoes it. */
export interface AppRecParty {
  name?: string;
  idents: Ident[];
  depts: Dept[];
  persons: Person[];
}

export interface AppRecInput {
  errors: AppRecError[];
  /** The party that received the referral (our side). */
  sender: AppRecParty;
  /** The party that sent the referral. */
  receiver: AppRecParty;
  original: { msgType: Cs; issueDate: string; id: string };
  softwareName: string;
  softwareVersion: string;
  now?: Date;
  id?: string;
}

function str(v: XmlValue | undefined): string | undefined {
  if (typeof v === 'string') return v.trim() === '' ? undefined : v.trim();
  if (v && typeof v === 'object' && !Array.isArray(v) && typeof v._text === 'string') return v._text.trim();
  return undefined;
}

function arr(v: XmlValue | undefined): XmlElement[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is XmlElement => typeof x === 'object' && x !== null);
}

function cs(v: XmlValue | undefined): Cs {
  const e = arr(v)[0];
  return e ? { V: typeof e.V === 'string' ? e.V : undefined, DN: typeof e.DN === 'string' ? e.DN : undefined } : {};
}

function idents(o: XmlElement): Ident[] {
  const list = arr(o.Ident)
    .map((i) => ({ id: str(i.Id) ?? '', type: cs(i.TypeId) }))
    .filter((i) => i.id !== '');
  // HER-id first: receivers route AppRecs by it.
  return [...list.filter((i) => i.type.V === 'HER'), ...list.filter((i) => i.type.V !== 'HER')];
}

function personName(p: XmlElement): string | undefined {
  const n = [str(p.GivenName), str(p.MiddleName), str(p.FamilyName)].filter(Boolean).join(' ');
  return n === '' ? undefined : n;
}

/** A MsgHead Sender/Receiver Organisation → AppRec party (departments and persons collected from the tree). */
export function partyFromOrganisation(org: XmlElement | undefined): AppRecParty {
  if (!org) return { idents: [], depts: [], persons: [] };
  const depts: Dept[] = [];
  const persons: Person[] = [];
  const walk = (o: XmlElement, top: boolean) => {
    if (!top) depts.push({ name: str(o.OrganisationName), idents: idents(o) });
    for (const hp of arr(o.HealthcareProfessional)) persons.push({ name: personName(hp), idents: idents(hp) });
    for (const child of arr(o.Organisation)) walk(child, false);
  };
  walk(org, true);
  return { name: str(org.OrganisationName), idents: idents(org), depts, persons };
}

/** A Henvisning v1.x `HCP` (Inst with Dept/HCPerson, or HCProf) → AppRec party: the AppRec HCP has the same shape. */
export function partyFromHcp(hcp: XmlElement): AppRecParty {
  const identsOf = (x: XmlElement): Ident[] => {
    const first = str(x.Id) ? [{ id: str(x.Id)!, type: cs(x.TypeId) }] : [];
    const more = arr(x.AdditionalId)
      .map((a) => ({ id: str(a.Id) ?? '', type: cs(a.Type) }))
      .filter((i) => i.id !== '');
    return [...first, ...more];
  };
  const inst = arr(hcp.Inst)[0];
  if (inst) {
    return {
      name: str(inst.Name),
      idents: identsOf(inst),
      depts: arr(inst.Dept).map((d) => ({ name: str(d.Name), idents: identsOf(d) })),
      persons: arr(inst.HCPerson).map((p) => ({ name: str(p.Name), idents: identsOf(p) })),
    };
  }
  const prof = arr(hcp.HCProf)[0];
  return prof ? { idents: [], depts: [], persons: [{ name: str(prof.Name), idents: identsOf(prof) }] } : { idents: [], depts: [], persons: [] };
}

function csXml(tag: string, c: Cs): string {
  const attrs = [c.V !== undefined ? ` V="${escapeXml(c.V)}"` : '', c.DN !== undefined ? ` DN="${escapeXml(c.DN)}"` : ''].join('');
  return `<${tag}${attrs}/>`;
}

function additional(list: Ident[]): string {
  return list.map((i) => `<AdditionalId><Id>${escapeXml(i.id)}</Id>${csXml('Type', i.type)}</AdditionalId>`).join('');
}

function head(list: Ident[]): string {
  const first = list[0];
  return first ? `<Id>${escapeXml(first.id)}</Id>${csXml('TypeId', first.type)}` : '';
}

function nameXml(n: string | undefined): string {
  return n ? `<Name>${escapeXml(n)}</Name>` : '';
}

function hcpXml(p: AppRecParty): string {
  // Schema order inside Inst: Name, Id, TypeId, Dept*, AdditionalId*, HCPerson*.
  const depts = p.depts.map((d) => `<Dept>${nameXml(d.name)}${head(d.idents)}${additional(d.idents.slice(1))}</Dept>`).join('');
  const persons = p.persons.map((h) => `<HCPerson>${nameXml(h.name)}${head(h.idents)}${additional(h.idents.slice(1))}</HCPerson>`).join('');
  return `<HCP><Inst>${nameXml(p.name)}${head(p.idents)}${depts}${additional(p.idents.slice(1))}${persons}</Inst></HCP>`;
}

/** xs:dateTime with the local offset, milliseconds included. */
export function xsDateTime(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  const local = new Date(d.getTime() + off * 60000).toISOString().slice(0, 23);
  return `${local}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

const XS_DATETIME = /^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;

/** Builds the AppRec v1.1 XML (UTF-8 text with declaration). Status 1 without errors, else 2. */
export function buildAppRec(input: AppRecInput): { xml: string; id: string; status: '1' | '2' } {
  const id = input.id ?? randomUUID();
  const status: '1' | '2' = input.errors.length === 0 ? '1' : '2';
  const issueDate = XS_DATETIME.test(input.original.issueDate) ? input.original.issueDate : xsDateTime(input.now ?? new Date());
  const errors = input.errors
    .map((e) => {
      const ot = e.detail ? ` OT="${escapeXml(e.detail.slice(0, 500))}"` : '';
      return `<Error V="${e.code}" S="${S_8221}" DN="${escapeXml(APPREC_ERRORS[e.code])}"${ot}/>`;
    })
    .join('');
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<AppRec xmlns="${APPREC_NS}">` +
    `<MsgType V="APPREC" DN="Applikasjonskvittering"/>` +
    `<MIGversion>v1.1 2012-02-15</MIGversion>` +
    `<SoftwareName>${escapeXml(input.softwareName)}</SoftwareName>` +
    `<SoftwareVersion>${escapeXml(input.softwareVersion)}</SoftwareVersion>` +
    `<GenDate>${xsDateTime(input.now ?? new Date())}</GenDate>` +
    `<Id>${id}</Id>` +
    `<Sender><Role V="PRIM" DN="Primærmottaker"/>${hcpXml(input.sender)}</Sender>` +
    `<Receiver><Role V="AVS" DN="Avsender"/>${hcpXml(input.receiver)}</Receiver>` +
    (status === '1' ? `<Status V="1" DN="OK"/>` : `<Status V="2" DN="Avvist"/>`) +
    errors +
    `<OriginalMsgId>${csXml('MsgType', input.original.msgType)}<IssueDate>${escapeXml(issueDate)}</IssueDate><Id>${escapeXml(input.original.id)}</Id></OriginalMsgId>` +
    `</AppRec>\n`;
  return { xml, id, status };
}
