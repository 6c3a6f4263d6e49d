/**
 * The few functions mappings may call besides JSONata's own (documented in mappings/README.md). All are pure.
 */
import { validatePersonNumber, normaliseIntegerId } from '../identifiers/norwegian-ids.js';
import type { ResourceIds } from '../referrals/resource-ids.js';

const ZONE = 'Europe/Oslo';
const offsetFormat = new Intl.DateTimeFormat('en-US', {
  timeZone: ZONE,
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** Offsets by UTC hour: Europe/Oslo changes its offset only on the hour (01:00 UTC), so an hour has one offset. */
const offsetByHour = new Map<number, number>();

/** Offset of Europe/Oslo (minutes east of UTC) at the UTC instant `ms`. */
function osloOffsetAt(ms: number): number {
  const hour = Math.floor(ms / 3_600_000);
  const known = offsetByHour.get(hour);
  if (known !== undefined) return known;
  const off = computeOsloOffset(hour * 3_600_000);
  if (offsetByHour.size >= 10_000) offsetByHour.clear();
  offsetByHour.set(hour, off);
  return off;
}

function computeOsloOffset(ms: number): number {
  const parts = Object.fromEntries(offsetFormat.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
}

function fmtOffset(min: number): string {
  const sign = min < 0 ? '-' : '+';
  const a = Math.abs(min);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * xs:dateTime → FHIR dateTime. Values without a zone are Norwegian local time (Europe/Oslo, summer time aware);
 * fractions are cut to milliseconds (.NET writes seven digits). Dates (YYYY-MM-DD) pass through; anything else gives
 * undefined so a mapping can leave the element out instead of writing an invalid value.
 */
export function fhirDateTime(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const v = value.trim();
  if (/^\d{4}(-\d{2}(-\d{2})?)?$/.test(v)) return v;
  const m = DATETIME.exec(v);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = '00', frac = '', zone] = m;
  const ms = frac ? frac.slice(0, 4).padEnd(4, '0') : '';
  const base = `${y}-${mo}-${d}T${h}:${mi}:${s}${ms}`;
  if (zone) return `${base}${zone === 'Z' ? 'Z' : zone}`;
  const local = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s);
  // Two passes settle the offset around the summer-time switches.
  let off = osloOffsetAt(local - 60 * 60000);
  off = osloOffsetAt(local - off * 60000);
  return `${base}${fmtOffset(off)}`;
}

/** Milliseconds since the epoch of a FHIR/xs dateTime (Oslo time when zone-less), NaN when unreadable. */
export function instantMs(value: string | undefined): number {
  const f = value ? fhirDateTime(value) : undefined;
  return f ? Date.parse(f.length === 10 ? `${f}T00:00:00Z` : f) : NaN;
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
export function personIdKind(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const r = validatePersonNumber(value.trim());
  return r.valid ? r.kind : undefined;
}

/** Kind, birth date and sex (pre-2032 numbers only) of a valid person number, else undefined. */
export function personInfo(value: unknown): { kind: string; birthDate?: string; sex?: string } | undefined {
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
  };
}
