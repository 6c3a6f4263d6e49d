/**
 * Structured logs (pino). Inside an HTTP request, `log()` returns the request's child logger so that every line
 * carries the request id, wherever in the code it is written.
 *
 * Rule: never log personal data (national ids, names, phone numbers, e-mail, message bodies, query strings).
 * The serializers below log the request path without its query string and no headers.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger } from 'pino';

// Until configureLogger runs with the validated level, log at info (an invalid LOG_LEVEL is reported by config).
let root: Logger = pino({ level: 'info', base: { service: 'hl7-engine' } });
const requestScope = new AsyncLocalStorage<Logger>();

/** `destination` (default stdout) lets tests capture what would be logged. */
export function configureLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'hl7-engine' },
    redact: { paths: ['req.headers.authorization', 'authorization', 'token'], censor: '[redacted]' },
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
