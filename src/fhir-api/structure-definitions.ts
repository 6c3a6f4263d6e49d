/**
 * The engine's extension definitions over the FHIR API (an extension of the FHIR router, read-only):
 *
 *   GET /StructureDefinition            search: url, _id (every definition without parameters)
 *   GET /StructureDefinition/{id}       one definition
 *
 * Scope: system/StructureDefinition.read (or system/*.read), like any FHIR read.
 */
import { Router, type Request, type Response } from 'express';
import type { Bundle, StructureDefinition } from '@medplum/fhirtypes';
import { packageVersion } from '../platform/paths.js';
import type { CapabilityAdditions } from './capability.js';
import { FhirError } from '../fhir-store/errors.js';
import { ENGINE_EXTENSIONS, structureDefinition } from '../lib/fhir-extensions.js';
import { checkScope, sendResource } from './http-support.js';

/** Every engine extension's StructureDefinition. */
export function engineStructureDefinitions(): StructureDefinition[] {
  return ENGINE_EXTENSIONS.map((d) => structureDefinition(d, packageVersion()));
}

function baseUrl(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}`;
}

export function structureDefinitionRouter(): Router {
  const router = Router();
  router.get('/StructureDefinition', (req: Request, res: Response) => {
    checkScope(req, 'StructureDefinition', 'read');
    const q = req.query as Record<string, unknown>;
    for (const k of Object.keys(q)) {
      if (!['url', '_id', '_format'].includes(k)) throw new FhirError(400, 'not-supported', `Search parameter "${k.slice(0, 50)}" is not supported`);
      if (typeof q[k] !== 'string') throw new FhirError(400, 'invalid', `Search parameter "${k}" given more than once`);
    }
    const url = q.url as string | undefined;
    const id = q._id as string | undefined;
    const list = engineStructureDefinitions().filter((sd) => (url === undefined || sd.url === url.split('|')[0]) && (id === undefined || sd.id === id));
    const base = baseUrl(req);
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: list.length,
      link: [{ relation: 'self', url: `${base}${req.path}` }],
      ...(list.length > 0 ? { entry: list.map((sd) => ({ fullUrl: `${base}/StructureDefinition/${sd.id}`, resource: sd, search: { mode: 'match' as const } })) } : {}),
    };
    sendResource(res, 200, bundle);
  });
  router.get('/StructureDefinition/:id', (req: Request, res: Response) => {
    checkScope(req, 'StructureDefinition', 'read');
    const id = String(req.params.id);
    const sd = engineStructureDefinitions().find((d) => d.id === id);
    if (!sd) throw new FhirError(404, 'not-found', `Resource StructureDefinition/${id.slice(0, 64)} is not known`);
    sendResource(res, 200, sd);
  });
  return router;
}

export const structureDefinitionCapability: CapabilityAdditions = {
  resources: [
    {
      type: 'StructureDefinition',
      interaction: ['read', 'search-type'],
      documentation:
        'Read-only: the definitions of the engine\u2019s own extensions: ' +
        ENGINE_EXTENSIONS.map((d) => `${d.id} (on ${d.context.join(', ')})`).join('; ') +
        '. Canonical URL: https://hl7-engine.dev/fhir/StructureDefinition/<id>.',
    },
  ],
};
