/**
 * The CapabilityStatement, generated from the same type table that drives storage, search and routing (types.ts),
 * so it lists exactly what is implemented, plus the operations other modules registered (router.ts).
 */
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { RESOURCE_TYPES, type ResourceTypeDef } from '../fhir-store/resource-types.js';

interface CapabilityOperation {
  name: string;
  definition: string;
  documentation?: string;
}

export interface CapabilityAdditions {
  /**
   * Operations on a resource type, e.g. { type: 'ValueSet', operations: [{ name: 'expand', definition: '…' }] }.
   * A type the repository does not serve is added with `interaction` (default read and search-type).
   */
  resources?: { type: string; operations?: CapabilityOperation[]; documentation?: string; interaction?: string[] }[];
  /** System-level operations. */
  operations?: CapabilityOperation[];
}

const SOFTWARE_VERSION = '0.1.0';

function revIncludesOf(type: string): string[] {
  const out: string[] = [];
  for (const def of RESOURCE_TYPES.values()) {
    for (const p of def.params) {
      if (p.type !== 'reference') continue;
      const targets = p.targets ?? [];
      if (targets.length === 0 || targets.includes(type)) out.push(`${def.type}:${p.name}`);
    }
  }
  return out;
}

function resourceEntry(def: ResourceTypeDef): CapabilityStatementRestResource {
  const interactions: CapabilityStatementRestResource['interaction'] = [
    { code: 'read' },
    { code: 'vread' },
    { code: 'search-type' },
    { code: 'history-instance' },
  ];
  if (def.writable) interactions.push({ code: 'create' }, { code: 'update' }, { code: 'delete' });
  const includes = def.params.filter((p) => p.type === 'reference').map((p) => `${def.type}:${p.name}`);
  const revIncludes = revIncludesOf(def.type);
  const entry: CapabilityStatementRestResource = {
    type: def.type as CapabilityStatementRestResource['type'],
    profile: `http://hl7.org/fhir/StructureDefinition/${def.type}`,
    interaction: interactions,
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: def.writable,
    conditionalCreate: def.writable,
    conditionalRead: 'full-support',
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
    searchParam: [
      { name: '_id', type: 'token', documentation: 'Logical id (comma-separated ids = any of them)' },
      { name: '_lastUpdated', type: 'date', documentation: 'When the version was stored (eq, gt, ge, lt, le)' },
      ...def.params.map((p) => ({ name: p.name, type: p.type, documentation: p.description })),
    ],
  };
  if (includes.length > 0) entry.searchInclude = includes;
  if (revIncludes.length > 0) entry.searchRevInclude = revIncludes;
  return entry;
}

export function capabilityStatement(baseUrl: string, additions: CapabilityAdditions[] = []): CapabilityStatement {
  const resources = [...RESOURCE_TYPES.values()].map(resourceEntry);
  const systemOps: CapabilityOperation[] = [];
  for (const a of additions) {
    systemOps.push(...(a.operations ?? []));
    for (const r of a.resources ?? []) {
      let entry = resources.find((e) => e.type === r.type);
      if (!entry) {
        entry = {
          type: r.type as CapabilityStatementRestResource['type'],
          interaction: (r.interaction ?? ['read', 'search-type']).map((code) => ({ code })) as CapabilityStatementRestResource['interaction'],
        };
        resources.push(entry);
      }
      if (r.operations && r.operations.length > 0) entry.operation = [...(entry.operation ?? []), ...r.operations];
      if (r.documentation) entry.documentation = r.documentation;
    }
  }
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    publisher: 'hl7-engine',
    kind: 'instance',
    software: { name: 'hl7-engine', version: SOFTWARE_VERSION },
    implementation: { description: 'HL7/FHIR integration engine FHIR R4 API', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Search: token (system|code, |code, code, system|), reference (Type/id, id, :Type), date (eq, gt, ge, lt, le), ' +
          'string (starts with, case and accent insensitive; :exact), uri; comma = OR, repeated parameter = AND; ' +
          '_count (max 1000), _sort (_id, _lastUpdated, date parameters; up to 2000 matches), _include, _revinclude, ' +
          '_summary=count. Unknown parameters are ignored unless Prefer: handling=strict (then 400).',
        security: {
          cors: false,
          service: [
            {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
              text: 'OAuth2 bearer token (JWT)',
            },
          ],
          description:
            'Every request needs a bearer token. Scopes: system/*.read or system/<Type>.read (read, vread, history, ' +
            'search), system/*.write or system/<Type>.write (create, update, delete); SMART v2 system/<Type>.cruds ' +
            'letters are accepted too.',
        },
        resource: resources,
        ...(systemOps.length > 0 ? { operation: systemOps } : {}),
      },
    ],
  };
}
