import fs from 'node:fs';
import { Router } from 'express';
import { projectPath } from '../paths.js';
import { openApiDocument } from './document.js';

/** GET /api/openapi.json: the OpenAPI 3.1 description of every non-FHIR route. */
export function openApiRouter(): Router {
  const version = (JSON.parse(fs.readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version;
  const doc = openApiDocument(version);
  const router = Router();
  router.get('/api/openapi.json', (_req, res) => {
    res.json(doc);
  });
  return router;
}
