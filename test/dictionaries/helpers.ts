import { randomUUID } from 'node:crypto';
import type { TestEngine } from '../support/harness.js';

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
}

export interface CallOptions {
  token?: string | null;
  body?: string | Uint8Array | object;
  type?: string;
  headers?: Record<string, string>;
}

/** Calls the engine; objects are sent as JSON, strings/bytes as given with `type`. */
export async function call(e: TestEngine, method: string, path: string, opts: CallOptions = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: RequestInit['body'];
  if (opts.body instanceof Uint8Array || typeof opts.body === 'string') {
    body = opts.body as RequestInit['body'];
    if (opts.type) headers['content-type'] = opts.type;
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = opts.type ?? 'application/json';
  }
  const res = await fetch(`${e.url}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

export function uniqueName(prefix = 'TEST'): string {
  return `${prefix}/t${randomUUID().slice(0, 8)}`;
}

export function enc(name: string): string {
  return encodeURIComponent(name);
}

export function colors(name: string, extra: object = {}) {
  return {
    name,
    title: 'Colours',
    version: 'v1',
    languages: ['en', 'nb'],
    codes: [
      { code: 'RED', display: { en: 'Red', nb: 'Rød' }, active: true },
      { code: 'GREEN', display: { en: 'Green', nb: 'Grønn' }, active: true },
      { code: 'BLUE', display: { en: 'Blue', nb: 'Blå' }, active: true },
    ],
    ...extra,
  };
}
