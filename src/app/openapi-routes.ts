import { Router } from 'express';
import { packageVersion } from '../platform/paths.js';
import { openApiDocument } from './openapi.js';

/** GET /api/openapi.json: the OpenAPI 3.1 description of every non-FHIR route. */
export function openApiRouter(): Router {
  const doc = openApiDocument(packageVersion());
  const router = Router();
  router.get('/api/openapi.json', (_req, res) => {
    res.json(doc);
  });
  return router;
}
