/**
 * The few functions mappings may call besides JSONata's own (documented in mappings/README.md). All are pure.
 */
import { validatePersonNumber, normaliseIntegerId } from '../lib/identifiers/norwegian-ids.js';
import type { ResourceIds } from './resource-ids.js';

const ZONE = 'Europe/Oslo';
const osloParts = new Intl.DateTimeFormat('en-US', {
  timeZone: ZONE,
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** Offsets by UTC minute: the zone data (IANA tzdata through Intl) is asked once per minute that is met. */
const offsetByMinute = new Map<number, number>();

/** Offset of Europe/Oslo (minutes east of UTC) at the UTC instant `ms`, from the IANA zone data behind Intl. */
function osloOffsetAt(ms: number): number {
  const minute = Math.floor(ms / 60_000);
  const known = offsetByMinute.get(minute);
  if (known !== undefined) return known;
  const at = minute * 60_000;
  const p = Object.fromEntries(osloParts.formatToParts(new Date(at)).map((x) => [x.type, x.value]));
  const wall = new Date(0);
  wall.setUTCFullYear(+p.year, +p.month - 1, +p.day);
  wall.setUTCHours(+p.hour, +p.minute, +p.second, 0);
  const wallAsUtc = wall.getTime();
  const off = Math.round((wallAsUtc - at) / 60_000);
  if (offsetByMinute.size >= 10_000) offsetByMinute.clear();
  offsetByMinute.set(minute, off);
  return off;
}

function fmtOffset(min: number): string {
  const sign = min < 0 ? '-' : '+';
  const a = Math.abs(min);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/**
 * The UTC instant of an Oslo wall-clock time given as if it were UTC (`wall`, ms), resolved like java.time's
 * ZonedDateTime.of and Temporal's 'compatible': a time that occurs twice (the autumn fold) is the earlier one,
 * at the summer offset; a time that does not occur (the spring gap) is moved forward by the length of the gap.
 */
function osloInstant(wall: number): number {
  const before = osloOffsetAt(wall - 86_400_000);
  const after = osloOffsetAt(wall + 86_400_000);
  const fits = [before, after].filter((o) => osloOffsetAt(wall - o * 60_000) === o);
  if (fits.length > 0) return wall - Math.max(...fits) * 60_000;
  return wall - before * 60_000;
}

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * xs:dateTime → FHIR dateTime, which needs a zone whenever it has a time. Values without a zone are Norwegian local
 * time (Europe/Oslo, see osloInstant for the summer-time switches) and are written as the Oslo wall-clock time with
 * its offset (+01:00 or +02:00); a time in the spring gap is written as the wall-clock time it became (02:30 →
 * 03:30+02:00). Fractions are cut to milliseconds (.NET writes seven digits). Dates (YYYY, YYYY-MM, YYYY-MM-DD) pass
 * through as dates; anything else gives undefined so a mapping can leave the element out instead of writing an
 * invalid value.
 */
export function fhirDateTime(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const v = value.trim();
  if (/^\d{4}(-\d{2}(-\d{2})?)?$/.test(v)) return v;
  const m = DATETIME.exec(v);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = '00', frac = '', zone] = m;
  const ms = frac ? frac.slice(0, 4).padEnd(4, '0') : '';
  if (zone) return `${y}-${mo}-${d}T${h}:${mi}:${s}${ms}${zone}`;
  const at = new Date(0);
  at.setUTCFullYear(+y, +mo - 1, +d); // not Date.UTC: it reads years 0–99 as 1900–1999
  at.setUTCHours(+h, +mi, +s, 0);
  const wall = at.getTime();
  if (at.getUTCFullYear() !== +y || at.getUTCMonth() !== +mo - 1 || at.getUTCDate() !== +d || +h > 23 || +mi > 59 || +s > 59) return undefined;
  const instant = osloInstant(wall);
  const off = osloOffsetAt(instant);
  const shown = new Date(instant + off * 60_000).toISOString(); // the Oslo wall clock at that instant
  return `${shown.slice(0, 19)}${ms}${fmtOffset(off)}`;
}

/** Milliseconds since the epoch of a FHIR/xs dateTime (Oslo time when zone-less), NaN when unreadable. */
export function instantMs(value: string | undefined): number {
  const f = value ? fhirDateTime(value) : undefined;
  return f ? Date.parse(f.length === 10 ? `${f}T00:00:00Z` : f) : NaN;
}

/**
 * HL7 v2 TS/DTM (`YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]`) → FHIR dateTime (or date), as fhirDateTime: a time without
 * a zone is Oslo local time. Anything else gives undefined.
 */
export function hl7DateTime(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(\d{2})?(\.\d{1,4})?)?([+-]\d{4})?$/.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  if (!mo) return y;
  if (!d) return `${y}-${mo}`;
  if (!h) return fhirDateTime(`${y}-${mo}-${d}`);
  const z = zone ? `${zone.slice(0, 3)}:${zone.slice(3)}` : '';
  return fhirDateTime(`${y}-${mo}-${d}T${h}:${mi ?? '00'}:${s ?? '00'}${frac ?? ''}${z}`);
}

/** The date part of an HL7 v2 TS/DTM (birth dates): YYYY, YYYY-MM or YYYY-MM-DD, else undefined. */
function hl7Date(value: unknown): string | undefined {
  const t = hl7DateTime(value);
  return t === undefined ? undefined : t.slice(0, 10);
}

/** Removes leading/trailing white space only (JSONata's $trim also collapses inner runs, which ruins clinical text). */
export function strip(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const t = value.trim();
  return t === '' ? undefined : t;
}

/**
 * Free text from XML: line ends are LF already; every line loses its leading/trailing blanks (pretty-printing
 * indentation of the XML, not content) while tabs inside a line stay; empty result → undefined.
 */
export function text(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const t = value
    .split('\n')
    .map((l) => l.replace(/^[ \t]+|[ \t]+$/g, ''))
    .join('\n')
    .trim();
  return t === '' ? undefined : t;
}

/** The kind of an 11-digit person number (FNR, DNR, HNR, TEST) or undefined when its check digits fail. */
function personIdKind(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const r = validatePersonNumber(value.trim());
  return r.valid ? r.kind : undefined;
}

/** Kind, birth date and sex (pre-2032 numbers only) of a valid person number, else undefined. */
function personInfo(value: unknown): { kind: string; birthDate?: string; sex?: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const r = validatePersonNumber(value.trim());
  if (!r.valid) return undefined;
  const out: { kind: string; birthDate?: string; sex?: string } = { kind: r.kind };
  if (r.birthDate) out.birthDate = r.birthDate;
  if (r.sex) out.sex = r.sex;
  return out;
}

/** Registers the functions on a compiled JSONata expression. */
export function mappingBindings(ids: ResourceIds): Record<string, unknown> {
  return {
    id: (resourceType: string, naturalKey: string) => ids.id(resourceType, String(naturalKey)),
    fhirDateTime,
    strip,
    text,
    intId: (v: unknown) => (typeof v === 'string' ? normaliseIntegerId(v) : undefined),
    personIdKind,
    personInfo,
    hl7DateTime,
    hl7Date,
  };
}
