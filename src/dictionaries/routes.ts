/**
 * Dictionaries admin API (eHealth envelope: {"meta":…,"data":…}; errors {"meta":…,"error":{"type","message",["invalid"]}}).
 *
 *   GET   /api/dictionaries                                  dictionaries:read   list: revision, version, counts, kept versions
 *   GET   /api/dictionaries/{name}                           dictionaries:read   metadata + codes; page, page_size, search, code, active
 *   GET   /api/dictionaries/{name}/versions                  dictionaries:read   kept revisions (newest first)
 *   GET   /api/dictionaries/{name}/export[?revision=n]       dictionaries:read   the whole dictionary in the file format
 *   GET   /api/dictionaries/{name}/codes/{code}              dictionaries:read   one code (normalised forms such as ICPC-2 K31 accepted)
 *   PUT   /api/dictionaries/{name}                           dictionaries:write  replace (or create) from JSON or CSV;
 *                                                                                ?dry_run=true, ?missing=deactivate, ?version=, ?language=
 *   POST  /api/dictionaries/{name}/rollback                  dictionaries:write  to the previous version ({"revision": n} for another)
 *   PATCH /api/dictionaries/{name}/codes/{code}              dictionaries:write  {"active": false|true}
 *   POST  /api/dictionaries/{name}/codes/{code}/deactivate   dictionaries:write  (…/activate to undo)
 *
 * Names contain slashes: send them URL-encoded (eHealth%2FICPC2%2Freasons) or as plain path segments. Writes accept
 * `If-Match: "<revision>"` (409 when the dictionary has changed). This router reads its own bodies (limit
 * DICTIONARY_UPLOAD_LIMIT, default 32mb) and is mounted before the global JSON parser.
 */
import { HttpError } from '../platform/http/errors.js';
import { Router, type Request, type Response } from 'express';
import type { DictionaryService } from './service.js';
import type { Authenticator } from '../platform/auth/middleware.js';
import type { Config } from '../platform/config/config.js';
import { sendData, sendEnvelopeError } from '../platform/http/envelope.js';
import { assertJsonDepth, rawBody } from '../platform/http/body.js';
import { clientError } from '../platform/http/errors.js';
import { log } from '../platform/logging/logger.js';
import { diffView } from './diff.js';
import { RESERVED_SEGMENTS, splitFile, validName, type DictionaryCode } from './format.js';
import { isKnownLanguage, type InvalidEntry } from './schema.js';
import { DictionaryError, type ChangeResult } from './service.js';
import { TextDecodeError, charsetOf, decodeText } from './text.js';
import { UploadError, csvInvalid, csvToDictionary, jsonToDictionary, type CsvDictionary } from './upload.js';
import { VALIDATION_FAILED_MESSAGE } from '../platform/http/validation-error.js';

/** What the dictionaries API uses of the engine. */
interface DictionaryRoutesDeps {
  /** Verifies bearer tokens. */
  readonly auth: Authenticator;
  /** The engine configuration. */
  readonly config: Config;
  /** Code lists. */
  readonly dictionaries: DictionaryService;
}

const PREFIX = '/api/dictionaries/';
const CSV_TYPES = ['text/csv', 'application/csv', 'text/comma-separated-values', 'application/vnd.ms-excel', 'text/tab-separated-values'];
const JSON_TYPES = /^application\/(?:[\w.+-]+\+)?json$/;


function queryInvalid(entry: string, description: string): InvalidEntry {
  return { entry_type: 'query_parameter', entry, rules: [{ rule: 'invalid', params: [], description }] };
}

interface Target {
  name: string;
  action: 'dictionary' | 'versions' | 'export' | 'rollback' | 'code' | 'code-activate' | 'code-deactivate';
  code?: string;
}

/** Splits the path after /api/dictionaries/ into the dictionary name and what is asked of it. */
function parseTarget(rawPath: string): Target | undefined {
  const raw = rawPath.slice(PREFIX.length).replace(/\/+$/, '');
  if (!raw) return undefined;
  let segs: string[];
  try {
    segs = raw.split('/').map((s) => decodeURIComponent(s));
  } catch {
    throw new HttpError(400, 'request_malformed', 'The path is not valid percent-encoding');
  }
  const rawSegs = raw.split('/');
  const n = rawSegs.length;
  const join = (k: number) => segs.slice(0, k).join('/');
  if (n >= 3 && rawSegs[n - 3] === 'codes' && (rawSegs[n - 1] === 'activate' || rawSegs[n - 1] === 'deactivate')) {
    return { name: join(n - 3), action: rawSegs[n - 1] === 'activate' ? 'code-activate' : 'code-deactivate', code: segs[n - 2] };
  }
  if (n >= 2 && rawSegs[n - 2] === 'codes') return { name: join(n - 2), action: 'code', code: segs[n - 1] };
  if (n >= 2 && ['versions', 'export', 'rollback'].includes(rawSegs[n - 1])) {
    return { name: join(n - 1), action: rawSegs[n - 1] as Target['action'] };
  }
  return { name: join(n), action: 'dictionary' };
}

function boolParam(req: Request, name: string, invalid: InvalidEntry[]): boolean {
  const v = req.query[name];
  if (v === undefined) return false;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  invalid.push(queryInvalid(`$.${name}`, 'must be true or false'));
  return false;
}

function intParam(req: Request, name: string, def: number, min: number, max: number, invalid: InvalidEntry[]): number {
  const v = req.query[name];
  if (v === undefined) return def;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || n < min || n > max) {
    invalid.push(queryInvalid(`$.${name}`, `must be an integer from ${min} to ${max}`));
    return def;
  }
  return n;
}

function strParam(req: Request, name: string, invalid: InvalidEntry[]): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') {
    invalid.push(queryInvalid(`$.${name}`, 'must be given once'));
    return undefined;
  }
  return v;
}

function rejectInvalid(invalid: InvalidEntry[]): void {
  if (invalid.length) throw new HttpError(422, 'validation_failed', VALIDATION_FAILED_MESSAGE, { invalid });
}

/** `If-Match: "3"` (also W/"3" or 3) → 3. */
function expectedRevision(req: Request): number | undefined {
  const h = req.get('if-match');
  if (h === undefined || h.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(h);
  if (!m) throw new HttpError(400, 'request_malformed', 'If-Match must be the revision, e.g. "3"');
  return Number(m[1]);
}

function fold(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

function changeView(r: ChangeResult & { rolled_back_to?: number }, diffLimit: number) {
  return {
    name: r.name,
    dry_run: r.dry_run,
    changed: r.changed,
    created: r.created,
    from_revision: r.from_revision,
    revision: r.revision,
    ...(r.rolled_back_to !== undefined ? { rolled_back_to: r.rolled_back_to } : {}),
    diff: diffView(r.diff, diffLimit),
  };
}

export function dictionariesRouter(ctx: DictionaryRoutesDeps): Router {
  const router = Router();
  const read = ctx.auth.inEnvelope().requireScopes('dictionaries:read');
  const write = ctx.auth.inEnvelope().requireScopes('dictionaries:write');
  const service = ctx.dictionaries;
  const uploadParser = rawBody({ limit: ctx.config.dictionaries.uploadLimitBytes });
  const smallParser = rawBody({ limit: 64 * 1024 });

  const readBody = (req: Request, res: Response, small = false): Promise<Buffer> =>
    new Promise((resolve, reject) =>
      (small ? smallParser : uploadParser)(req, res, (err?: unknown) => {
        if (err) {
          const mapped = clientError(err);
          reject(mapped ? new HttpError(mapped.status, mapped.type, mapped.message) : err);
          return;
        }
        resolve(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
      }),
    );

  const smallJson = async (req: Request, res: Response): Promise<Record<string, unknown>> => {
    const body = await readBody(req, res, true);
    if (body.length === 0) return {};
    const type = (req.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (type && !JSON_TYPES.test(type)) throw new HttpError(415, 'unsupported_media_type', 'Send application/json');
    let v: unknown;
    // Without a Content-Type the body parser's depth check did not run (it looks at JSON types only).
    if (!type) assertJsonDepth(body);
    try {
      v = JSON.parse(decodeText(body, charsetOf(req.get('content-type'))));
    } catch (err) {
      if (err instanceof TextDecodeError) throw err;
      throw new HttpError(400, 'request_malformed', 'Request body is not valid JSON');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(422, 'validation_failed', 'The body must be a JSON object');
    return v as Record<string, unknown>;
  };

  const handle =
    (fn: (req: Request, res: Response) => Promise<void>) =>
    async (req: Request, res: Response): Promise<void> => {
      try {
        await fn(req, res);
      } catch (err) {
        sendFailure(req, res, err);
      }
    };

  router.get(
    '/api/dictionaries',
    read,
    handle(async (req, res) => {
      const list = await service.list();
      sendData(
        req,
        res,
        200,
        list.map((s) => ({ ...s, versions: s.versions.map(({ diff: _d, ...v }) => v) })),
      );
    }),
  );

  router.all(
    '/api/dictionaries/*rest',
    (req, res, next) => {
      // Authorisation before anything else (also before reading a large body).
      const writing = req.method !== 'GET' && req.method !== 'HEAD';
      (writing ? write : read)(req, res, next);
    },
    handle(async (req, res) => {
      const target = parseTarget(req.path);
      if (!target) throw new HttpError(404, 'not_found', 'Dictionary name missing');
      const key = `${req.method} ${target.action}`;
      switch (key) {
        case 'GET dictionary':
        case 'HEAD dictionary':
          return getDictionary(req, res, target.name);
        case 'GET versions':
          return getVersions(req, res, target.name);
        case 'GET export':
          return getExport(req, res, target.name);
        case 'GET code':
          return getCode(req, res, target.name, target.code!);
        case 'PUT dictionary':
          return putDictionary(req, res, target.name);
        case 'POST rollback':
          return postRollback(req, res, target.name);
        case 'PATCH code':
          return patchCode(req, res, target.name, target.code!);
        case 'POST code-activate':
        case 'POST code-deactivate':
          return setActive(req, res, target.name, target.code!, target.action === 'code-activate');
        default:
          res.setHeader('Allow', allowed(target.action));
          throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed here (allowed: ${allowed(target.action)})`);
      }
    }),
  );

  function allowed(action: Target['action']): string {
    return { dictionary: 'GET, PUT', versions: 'GET', export: 'GET', rollback: 'POST', code: 'GET, PATCH', 'code-activate': 'POST', 'code-deactivate': 'POST' }[action];
  }

  async function loaded(name: string) {
    const d = await service.get(name);
    if (!d) throw new HttpError(404, 'not_found', `Dictionary ${name.slice(0, 200)} not found`);
    return d;
  }

  async function getDictionary(req: Request, res: Response, name: string): Promise<void> {
    const invalid: InvalidEntry[] = [];
    const page = intParam(req, 'page', 1, 1, 1_000_000, invalid);
    const pageSize = intParam(req, 'page_size', 50, 1, 1000, invalid);
    const search = strParam(req, 'search', invalid);
    const code = strParam(req, 'code', invalid);
    const activeParam = strParam(req, 'active', invalid);
    if (activeParam !== undefined && !['true', 'false'].includes(activeParam)) invalid.push(queryInvalid('$.active', 'must be true or false'));
    rejectInvalid(invalid);
    const d = await loaded(name);
    const summary = await service.summary(d.name);
    if (!summary) throw new HttpError(404, 'not_found', `Dictionary ${name.slice(0, 200)} not found`);
    let codes: readonly DictionaryCode[] = d.codes;
    if (code !== undefined) codes = codes.filter((c) => c.code === code);
    if (activeParam !== undefined) codes = codes.filter((c) => c.active === (activeParam === 'true'));
    if (search !== undefined && search.trim() !== '') {
      const q = fold(search.trim());
      codes = codes.filter((c) => fold(c.code).startsWith(q) || Object.values(c.display).some((t) => fold(t).includes(q)));
    }
    const total = codes.length;
    const { versions, ...rest } = summary;
    res.setHeader('ETag', `"${d.revision}"`);
    sendData(
      req,
      res,
      200,
      {
        ...rest,
        description: d.meta.description,
        source: d.meta.source,
        attribution: d.meta.attribution,
        license: d.meta.license,
        labels: d.meta.labels,
        normalize: d.meta.normalize,
        properties: d.meta.properties,
        hierarchy: d.meta.hierarchy,
        versions: versions.map(({ diff: _d, ...v }) => v),
        codes: codes.slice((page - 1) * pageSize, page * pageSize),
      },
      { paging: { page_number: page, page_size: pageSize, total_entries: total, total_pages: Math.ceil(total / pageSize) } },
    );
  }

  async function getVersions(req: Request, res: Response, name: string): Promise<void> {
    const d = await loaded(name);
    const summary = await service.summary(d.name);
    sendData(req, res, 200, summary?.versions ?? []);
  }

  async function getExport(req: Request, res: Response, name: string): Promise<void> {
    const invalid: InvalidEntry[] = [];
    const revision = req.query.revision === undefined ? undefined : intParam(req, 'revision', 0, 1, Number.MAX_SAFE_INTEGER, invalid);
    rejectInvalid(invalid);
    const d = await loaded(name);
    const file = await service.export(d.name, revision);
    if (!file) throw new HttpError(404, 'not_found', `Dictionary ${name.slice(0, 200)} not found`);
    res.setHeader('Content-Disposition', `attachment; filename="${d.fhirId}.json"`);
    res.status(200).json(file);
  }

  async function getCode(req: Request, res: Response, name: string, code: string): Promise<void> {
    const d = await loaded(name);
    const c = await service.getCode(d.name, code);
    if (!c) throw new HttpError(404, 'not_found', `Code "${code.slice(0, 256)}" not found in ${d.name}`);
    sendData(req, res, 200, { ...c, dictionary: d.name, revision: d.revision, ...(c.code !== code ? { requested: code } : {}) });
  }

  async function putDictionary(req: Request, res: Response, name: string): Promise<void> {
    if (!validName(name)) {
      throw new HttpError(422, 'validation_failed', `Invalid dictionary name "${name.slice(0, 200)}": letters, digits, _ . - in segments separated by single slashes; no segment may be ${RESERVED_SEGMENTS.join(', ')}`);
    }
    const invalid: InvalidEntry[] = [];
    const dryRun = boolParam(req, 'dry_run', invalid);
    const missing = strParam(req, 'missing', invalid) ?? 'remove';
    if (missing !== 'remove' && missing !== 'deactivate') invalid.push(queryInvalid('$.missing', 'must be remove or deactivate'));
    const version = strParam(req, 'version', invalid);
    if (version !== undefined && (version.trim() === '' || version.length > 128)) invalid.push(queryInvalid('$.version', 'must be 1 to 128 characters'));
    const language = strParam(req, 'language', invalid);
    if (language !== undefined && !isKnownLanguage(language)) invalid.push(queryInvalid('$.language', 'is not a known language tag (e.g. en, nb, uk)'));
    const diffLimit = intParam(req, 'diff_limit', 1000, 0, 1_000_000, invalid);
    rejectInvalid(invalid);
    const expected = expectedRevision(req);

    const contentType = req.get('content-type') ?? '';
    const mediaType = contentType.split(';')[0].trim().toLowerCase();
    const isCsv = CSV_TYPES.includes(mediaType);
    if (!isCsv && !JSON_TYPES.test(mediaType)) {
      throw new HttpError(415, 'unsupported_media_type', `Send the dictionary as application/json or text/csv${mediaType ? `, not ${mediaType.slice(0, 100)}` : ' (Content-Type is missing)'}`);
    }
    const body = await readBody(req, res);
    if (body.length === 0) throw new HttpError(400, 'request_malformed', `The body is empty: send the dictionary as ${isCsv ? 'CSV (header row + codes)' : 'JSON'}`);
    const text = decodeText(body, charsetOf(contentType));
    if (text.trim() === '') throw new HttpError(400, 'request_malformed', 'The body contains only whitespace');

    const current = await service.export(name);
    const uploadCtx = { name, current: current ? splitFile(current).meta : undefined, version, language };
    let csv: CsvDictionary | undefined;
    let file;
    if (isCsv) {
      csv = csvToDictionary(text, uploadCtx);
      file = csv.file;
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new HttpError(400, 'request_malformed', `Request body is not valid JSON (${(err as Error).message.slice(0, 200)})`);
      }
      file = jsonToDictionary(parsed, uploadCtx);
    }
    let result: ChangeResult;
    try {
      result = await service.replace(name, file, { dryRun, by: req.auth!.userId, expectedRevision: expected, missing: missing as 'remove' | 'deactivate' });
    } catch (err) {
      if (err instanceof DictionaryError && err.invalid && csv) {
        throw new DictionaryError(err.status, err.type, err.message, csvInvalid(err.invalid, csv), err.extra);
      }
      throw err;
    }
    if (result.revision !== null) res.setHeader('ETag', `"${result.revision}"`);
    sendData(req, res, result.created && !result.dry_run ? 201 : 200, changeView(result, diffLimit));
  }

  async function postRollback(req: Request, res: Response, name: string): Promise<void> {
    const invalid: InvalidEntry[] = [];
    const dryRun = boolParam(req, 'dry_run', invalid);
    const diffLimit = intParam(req, 'diff_limit', 1000, 0, 1_000_000, invalid);
    let toRevision = req.query.revision === undefined ? undefined : intParam(req, 'revision', 0, 1, Number.MAX_SAFE_INTEGER, invalid);
    rejectInvalid(invalid);
    const body = await smallJson(req, res);
    if (body.revision !== undefined) {
      if (!Number.isInteger(body.revision) || (body.revision as number) < 1) {
        throw new HttpError(422, 'validation_failed', VALIDATION_FAILED_MESSAGE, {
          invalid: [{ entry_type: 'json_data_property', entry: '$.revision', rules: [{ rule: 'cast', params: [], description: 'must be a positive integer' }] }],
        });
      }
      toRevision = body.revision as number;
    }
    const d = await loaded(name);
    const r = await service.rollback(d.name, { by: req.auth!.userId, toRevision, dryRun, expectedRevision: expectedRevision(req) });
    if (r.revision !== null) res.setHeader('ETag', `"${r.revision}"`);
    sendData(req, res, 200, changeView(r, diffLimit));
  }

  async function patchCode(req: Request, res: Response, name: string, code: string): Promise<void> {
    const body = await smallJson(req, res);
    const unknown = Object.keys(body).filter((k) => k !== 'active');
    if (typeof body.active !== 'boolean' || unknown.length) {
      throw new HttpError(422, 'validation_failed', VALIDATION_FAILED_MESSAGE, {
        invalid: [
          {
            entry_type: 'json_data_property',
            entry: unknown.length ? `$.${unknown[0]}` : '$.active',
            rules: [{ rule: unknown.length ? 'schema' : 'required', params: [], description: unknown.length ? 'only "active" can be changed here; replace the dictionary to change anything else' : 'must be true or false' }],
          },
        ],
      });
    }
    return setActive(req, res, name, code, body.active);
  }

  async function setActive(req: Request, res: Response, name: string, code: string, active: boolean): Promise<void> {
    const invalid: InvalidEntry[] = [];
    const dryRun = boolParam(req, 'dry_run', invalid);
    rejectInvalid(invalid);
    const d = await loaded(name);
    const r = await service.setActive(d.name, code, active, { by: req.auth!.userId, dryRun, expectedRevision: expectedRevision(req) });
    if (r.revision !== null) res.setHeader('ETag', `"${r.revision}"`);
    sendData(req, res, 200, changeView(r, 100));
  }

  return router;
}

function sendFailure(req: Request, res: Response, err: unknown): void {
  let status: number;
  let error: Record<string, unknown>;
  if (err instanceof HttpError) {
    status = err.status;
    error = { type: err.type, message: err.message, ...err.extra };
  } else if (err instanceof DictionaryError || err instanceof UploadError) {
    status = err.status;
    error = { type: err.type, message: err.message, ...(err.invalid ? { invalid: err.invalid } : {}), ...(err instanceof DictionaryError ? err.extra : {}) };
  } else if (err instanceof TextDecodeError) {
    status = err.kind === 'unsupported_charset' ? 415 : 400;
    error = { type: err.kind === 'unsupported_charset' ? 'unsupported_media_type' : 'request_malformed', message: err.message };
  } else if (clientError(err)) {
    const c = clientError(err)!;
    status = c.status;
    error = { type: c.type, message: c.message };
  } else {
    log().error({ err: { message: (err as Error)?.message, stack: (err as Error)?.stack } }, 'dictionary request failed');
    if (res.headersSent) return void res.destroy();
    return sendEnvelopeError(req, res, 500, { type: 'internal_error', message: 'Internal server error' });
  }
  log().warn({ status, errorType: error.type, method: req.method }, 'dictionary request rejected');
  if (res.headersSent) return void res.destroy();
  sendEnvelopeError(req, res, status, error);
}
