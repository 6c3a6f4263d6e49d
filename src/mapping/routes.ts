/**
 * Mapping versions (installation-wide, operators only: scope `admin`):
 *   GET /api/mappings                       every installed version of every mapping, the current one of each marked
 *   PUT /api/mappings/{name}/current        {"version"}: that installed version maps new messages and replays from now
 *                                           on, in every engine process within MAPPING_SELECTION_CACHE_MS
 */
import { Router, type Request, type Response } from 'express';
import type { Authenticator } from '../platform/auth/middleware.js';
import { sendData, sendEnvelopeError } from '../platform/http/envelope.js';
import { createAjv, invalidAt, validateWith } from '../platform/http/validation-error.js';
import { UnknownMappingVersionError, type CurrentMappings } from './current.js';
import type { MappingRegistry } from './registry.js';

export const mappingSwitchSchema = {
  type: 'object',
  properties: { version: { type: 'string', minLength: 1, maxLength: 50 } },
  required: ['version'],
  additionalProperties: false,
} as const;

const validateSwitch = createAjv().compile(mappingSwitchSchema);

export function mappingsRouter(deps: { auth: Authenticator; mappings: Pick<MappingRegistry, 'byMappingName'>; currentMappings: Pick<CurrentMappings, 'installed' | 'select'> }): Router {
  const router = Router();
  const admin = deps.auth.inEnvelope().requireScopes('admin');

  router.get('/api/mappings', admin, async (req: Request, res: Response) => {
    sendData(req, res, 200, await deps.currentMappings.installed());
  });

  router.put('/api/mappings/:name/current', admin, async (req: Request, res: Response) => {
    const name = String(req.params.name);
    if (!deps.mappings.byMappingName(name)) return sendEnvelopeError(req, res, 404, { type: 'not_found', message: `No mapping named ${name} is installed` });
    const failed = validateWith(validateSwitch, req.body);
    if (failed) return sendEnvelopeError(req, res, 422, failed as unknown as Record<string, unknown>);
    try {
      const doc = await deps.currentMappings.select(name, (req.body as { version: string }).version, req.auth!.userId);
      sendData(req, res, 200, { name: doc.name, version: doc.version, selected_at: doc.selected_at.toISOString(), selected_by: doc.selected_by });
    } catch (err) {
      if (!(err instanceof UnknownMappingVersionError)) throw err;
      sendEnvelopeError(req, res, 422, invalidAt('$.version', err.message, 'inclusion') as unknown as Record<string, unknown>);
    }
  });
  return router;
}
