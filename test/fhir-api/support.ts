/**
 * Helpers of the FHIR API tests: a fhir-kit-client bound to the shared engine, raw fetch with a token, and an
 * assertion that every resource (and every resource inside a Bundle) passes @medplum/core validateResource.
 */
import { expect } from 'chai';
import { Client } from 'fhir-kit-client';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { validationIssues } from '../../src/fhir-store/validation.js';
import { engine } from '../support/harness.js';

export const READ = 'system/*.read';
export const WRITE = 'system/*.read system/*.write';

export async function client(scope = WRITE): Promise<Client> {
  return new Client({ baseUrl: `${engine().url}/fhir`, bearerToken: await engine().token(scope, { sub: 'fhir-tester', clientId: 'le-1' }) });
}

export async function raw(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string>; scope?: string | null } = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = { Accept: 'application/fhir+json', ...(init.headers ?? {}) };
  if (init.scope !== null) headers.Authorization = `Bearer ${await engine().token(init.scope ?? WRITE, { sub: 'fhir-tester', clientId: 'le-1' })}`;
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    headers['Content-Type'] ??= 'application/fhir+json';
  }
  const res = await fetch(`${engine().url}/fhir${path}`, { method: init.method ?? 'GET', headers, body });
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Asserts the resource is valid R4 (Bundles: every entry's resource too). */
export function expectValid(resource: unknown): void {
  const r = resource as Resource;
  expect(r?.resourceType, 'a FHIR resource').to.be.a('string');
  const issues = validationIssues(r);
  expect(issues, `${r.resourceType} validation: ${JSON.stringify(issues)}`).to.deep.equal([]);
  if (r.resourceType === 'Bundle') for (const e of (r as Bundle).entry ?? []) if (e.resource) expectValid(e.resource);
}

export function expectOutcome(res: { status: number; body: any; headers: Headers }, status: number, diagnostics?: RegExp): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.headers.get('content-type')).to.match(/^application\/fhir\+json/);
  expect(res.body.resourceType).to.equal('OperationOutcome');
  expectValid(res.body);
  if (diagnostics) expect(res.body.issue.map((i: { diagnostics?: string }) => i.diagnostics).join(' | ')).to.match(diagnostics);
}

export function ids(bundle: any, mode = 'match'): string[] {
  return ((bundle as Bundle).entry ?? []).filter((e) => e.search?.mode === mode).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`);
}
