/**
 * Structured logs (pino). Inside an HTTP request, `log()` returns the request's child logger so that every line
 * carries the request id, wherever in the code it is written.
 *
 * Rule: never log personal data (national ids, names, phone numbers, e-mail, message bodies, query strings).
 * The serializers below log the request path without its query string and no headers.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Error texts can quote values (a database's duplicate-key error quotes the key, a parser quotes the input): before an
 * error reaches a log line, quoted strings, e-mail addresses and runs of 6 or more digits (national ids, phone
 * numbers) are masked.
 */
export function maskPersonalData(text: string): string {
  return text
    .replace(/"[^"]*"|'[^']*'/g, '"…"')
    .replace(/[\w.+-]+@[\w-]+(\.[\w-]+)+/g, '[email]')
    .replace(/\+?\d[\d ]{4,}\d/g, (m) => (m.replace(/\D/g, '').length >= 6 ? '[digits]' : m));
}

/** Every `err` field, whatever its shape: type, code, and message and stack masked. */
export function errSerializer(e: unknown): Record<string, unknown> {
  const err = e as { name?: unknown; type?: unknown; message?: unknown; code?: unknown; stack?: unknown };
  return {
    type: typeof err?.name === 'string' ? err.name : typeof err?.type === 'string' ? err.type : undefined,
    code: typeof err?.code === 'string' || typeof err?.code === 'number' ? err.code : undefined,
    message: typeof err?.message === 'string' ? maskPersonalData(err.message) : undefined,
    stack: typeof err?.stack === 'string' ? maskPersonalData(err.stack) : undefined,
  };
}

const serializers = { err: errSerializer };

// Until configureLogger runs with the validated level, log at info (an invalid LOG_LEVEL is reported by config).
let root: Logger = pino({ level: 'info', base: { service: 'hl7-engine' }, serializers });
const requestScope = new AsyncLocalStorage<Logger>();

/** `destination` (default stdout) lets tests capture what would be logged. */
export function configureLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'hl7-engine' },
    redact: { paths: ['req.headers.authorization', 'authorization', 'token'], censor: '[redacted]' },
    serializers,
  };
  root = destination ? pino(options, destination) : pino(options);
  return root;
}

export function rootLogger(): Logger {
  return root;
}

/** The logger of the current request (with its reqId), or the root logger outside a request. */
export function log(): Logger {
  return requestScope.getStore() ?? root;
}

export function runWithLogger<T>(logger: Logger, fn: () => T): T {
  return requestScope.run(logger, fn);
}

export type { Logger };
