import { Router } from 'express';
import { pingDatabase } from '../db/mongo.js';
import type { Database } from '../db/mongo.js';

/** What the health routes use of the engine. */
interface HealthDeps {
  /** The database connection. */
  readonly database: Database;
  /** Set once SIGTERM arrived. */
  shuttingDown: boolean;
}

/** GET /healthz: the process is up. GET /readyz: the database answers (503 otherwise, and while shutting down). */
export function healthRouter(ctx: HealthDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    if (ctx.shuttingDown) {
      res.status(503).json({ status: 'unavailable', error: { type: 'shutting_down', message: 'The engine is shutting down' } });
      return;
    }
    const ok = await pingDatabase(ctx.database.db, 1500);
    if (ok) res.json({ status: 'ready' });
    else res.status(503).json({ status: 'unavailable', error: { type: 'database_unavailable', message: 'The database does not answer' } });
  });
  return router;
}
