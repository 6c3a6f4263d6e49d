/**
 * Request body parsers shared by every route family. Each reads the body once (Content-Encoding gzip, deflate, br
 * decoded; anything else is refused with 415), enforces a byte limit, and refuses JSON nested deeper than
 * JSON_MAX_DEPTH before anything parses or stores it: a database driver, a validator or a mapping walks documents
 * recursively, and 50 000 levels overflow its stack. Errors go to `next` and are mapped by `clientError` (errors.ts).
 */
import type { IncomingMessage } from 'node:http';
import express, { type RequestHandler } from 'express';

/** Deepest nesting of arrays and objects accepted in a JSON body (a FHIR resource needs well under 20). */
export const JSON_MAX_DEPTH = 64;
/** `type` of the error raised for a body nested deeper than JSON_MAX_DEPTH. */
export const JSON_TOO_DEEP = 'entity.too.deep';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * The deepest nesting of arrays/objects in a JSON text, counted in one pass without recursion (brackets inside
 * strings are skipped), stopping as soon as `max` is exceeded. Works on UTF-8 bytes: the ASCII bytes it looks for
 * never occur inside a multi-byte character.
 */
function jsonDepthExceeds(bytes: Uint8Array, max = JSON_MAX_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) depth--;
  }
  return false;
}

function tooDeep(): Error {
  return Object.assign(new Error(`JSON nested deeper than ${JSON_MAX_DEPTH} levels`), { status: 400, type: JSON_TOO_DEEP });
}

/** Throws the 400 `entity.too.deep` error when the JSON text is nested deeper than JSON_MAX_DEPTH. */
export function assertJsonDepth(body: Uint8Array | string): void {
  if (jsonDepthExceeds(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)) throw tooDeep();
}

const JSON_TYPE = /^application\/(json|[\w.+-]+\+json)\s*(;|$)/i;

/** body-parser `verify`: the raw bytes (before the charset is decoded), for JSON bodies only. */
function verifyDepth(req: IncomingMessage, _res: unknown, buf: Buffer, encoding: string | null): void {
  if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) return;
  let text: Uint8Array | string = buf;
  if (encoding && !/^utf-?8$/i.test(encoding)) {
    try {
      text = new TextDecoder(encoding).decode(buf);
    } catch {
      // a charset TextDecoder does not know: the parser refuses it (415) right after
    }
  }
  assertJsonDepth(text);
}

/** JSON bodies (application/json and application/*+json unless `type` says otherwise) into `req.body`. */
export function jsonBody(opts: { limit: number | string; type?: string[] }): RequestHandler {
  return express.json({ limit: opts.limit, type: opts.type ?? ['application/json', 'application/*+json'], verify: verifyDepth });
}

/** Form bodies (POST _search) into `req.body`. */
export function formBody(opts: { limit: number | string }): RequestHandler {
  return express.urlencoded({ limit: opts.limit, extended: false, type: 'application/x-www-form-urlencoded' });
}

/** Any body as a Buffer in `req.body`; a JSON Content-Type gets the depth check too. */
export function rawBody(opts: { limit: number | string }): RequestHandler {
  return express.raw({ type: () => true, limit: opts.limit, verify: verifyDepth });
}
