/**
 * HL7 v2 acknowledgements the engine sends: `MSH`, `MSA` and one `ERR` per problem.
 *
 *   original mode   AA accepted, AE application error (the content: a bad FNR, a required field missing),
 *                   AR rejected (the envelope: no MSH, no control id, unsupported type or version, unknown receiving
 *                   facility; or our side failed, and a resend will be processed again)
 *   enhanced mode   CA commit accept (stored), CR commit reject (not stored); then the application ACK as above
 *
 * MSH-3/4 and MSH-5/6 are the original's receiver and sender swapped, MSH-9 `ACK^<event>^ACK`, MSH-10 a fresh id,
 * MSH-11/12/18 copied from the original. MSA-2 is the original's control id, MSA-3 the first problem's text. ERR
 * (v2.5 layout): ERR-2 location `segment^1^field`, ERR-3 HL7 table 0357 code, ERR-4 severity, ERR-8 the text.
 */
import { randomBytes } from 'node:crypto';
import { Hl7Context, Hl7Message, Hl7Segment } from '@medplum/core';
import { escapeEr7, type Er7Header } from '../../lib/er7.js';

export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

export interface AckProblem {
  /** HL7 table 0357 code: 100 segment sequence, 101 required field missing, 102 data type, 103 table value not found,
   * 200 unsupported message type, 201 unsupported event, 202 unsupported processing id, 203 unsupported version,
   * 207 application internal error. */
  code: string;
  text: string;
  segment?: string;
  field?: number;
  /** Repetition of the field (1-based) when the problem is in one. */
  repetition?: number;
}

const ERROR_NAMES: Record<string, string> = {
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '207': 'Application internal error',
};

/** What of the original an ACK repeats (a header that could not be read gives empty values). */
export type AckOriginal = Pick<
  Er7Header,
  'sendingApplication' | 'sendingFacility' | 'receivingApplication' | 'receivingFacility' | 'triggerEvent' | 'controlId' | 'processingId' | 'version' | 'characterSet'
>;

export const EMPTY_ORIGINAL: AckOriginal = {
  sendingApplication: '',
  sendingFacility: '',
  receivingApplication: '',
  receivingFacility: '',
  triggerEvent: '',
  controlId: '',
  processingId: '',
  version: '',
  characterSet: '',
};

function timestamp(now: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}+0000`;
}

/** The ACK of `original` with `code` and the problems found (none for AA/CA). */
export function buildAck(original: AckOriginal, code: AckCode, problems: AckProblem[] = [], now = new Date()): { text: string; id: string } {
  const ctx = new Hl7Context();
  const id = randomBytes(10).toString('hex');
  const e = (s: string) => escapeEr7(s.slice(0, 2000));
  const segments = [
    new Hl7Segment(
      [
        'MSH',
        '^~\\&',
        e(original.receivingApplication),
        e(original.receivingFacility),
        e(original.sendingApplication),
        e(original.sendingFacility),
        timestamp(now),
        '',
        `ACK${original.triggerEvent ? `^${e(original.triggerEvent)}` : ''}^ACK`,
        id,
        /^[PDT]$/.test(original.processingId) ? original.processingId : 'P',
        /^2\.\d(\.\d)?$/.test(original.version) ? original.version : '2.5',
        '',
        '',
        '',
        '',
        '',
        original.characterSet ? e(original.characterSet) : '',
      ],
      ctx,
    ),
    new Hl7Segment(['MSA', code, e(original.controlId.slice(0, 199)), problems[0] ? e(problems[0].text) : ''], ctx),
    ...problems.map(
      (p) =>
        new Hl7Segment(
          [
            'ERR',
            '',
            p.segment ? [p.segment, '1', p.field ?? '', p.repetition ?? ''].join('^').replace(/\^+$/, '') : '',
            `${p.code}^${ERROR_NAMES[p.code] ?? ''}^HL70357`,
            'E',
            '',
            '',
            '',
            e(p.text),
          ],
          ctx,
        ),
    ),
  ];
  const text = new Hl7Message(segments, ctx).toString().replace(/\|+(?=\r|$)/g, '');
  return { text, id };
}
