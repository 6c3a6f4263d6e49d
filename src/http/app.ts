/**
 * The Express application: request context and logging, body limits, the routers of every concern, JSON errors.
 */
import express, { type Express } from 'express';
import type { AppContext } from './context.js';
import { jsonErrorHandler, notFoundHandler } from './errors.js';
import { healthRouter } from './health.js';
import { jobsRouter } from '../jobs/routes.js';
import { requestContext } from './request-context.js';

export function createApp(ctx: AppContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(requestContext());
  app.use((_req, res, next) => {
    if (ctx.shuttingDown) res.setHeader('Connection', 'close');
    next();
  });
  app.use(healthRouter(ctx));
  app.use(express.json({ limit: ctx.config.bodyLimitBytes, type: ['application/json', 'application/*+json'] }));
  app.use(jobsRouter(ctx));
  app.use(notFoundHandler);
  app.use(jsonErrorHandler);
  return app;
}
