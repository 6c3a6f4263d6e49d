/**
 * The Express application: request context and logging, body limits, the routers of every concern, JSON errors.
 */
import express, { type Express } from 'express';
import type { AppContext } from './context.js';
import { jsonBody } from '../platform/http/body.js';
import { checkPathEncoding, envelopeErrorHandler, jsonErrorHandler, notFoundHandler } from '../platform/http/errors.js';
import { fhirErrorHandler } from '../fhir-api/http-support.js';
import { healthRouter } from '../platform/http/health.js';
import { dictionariesRouter } from '../dictionaries/routes.js';
import { fhirTerminologyRouter, terminologyCapability } from '../fhir-api/terminology.js';
import { structureDefinitionCapability, structureDefinitionRouter } from '../fhir-api/structure-definitions.js';
import { httpMetrics } from '../platform/metrics/http-metrics.js';
import { metricsRouter } from '../platform/metrics/routes.js';
import { agendashRouter } from '../jobs/agendash.js';
import { supervisorPageRouter } from '../consultations/supervisor-page.js';
import { openApiRouter } from './openapi-routes.js';
import { jobsRouter } from '../jobs/routes.js';
import { billingRouter } from '../billing/routes.js';
import { consultationsRouter } from '../consultations/routes.js';
import { registriesRouter } from '../registries/routes.js';
import { carePlansRouter } from '../careplans/routes.js';
import { henvisningRouter } from '../ingest/henvisning/routes.js';
import { hl7v2Router } from '../ingest/hl7v2/routes.js';
import { messagesRouter } from '../ingest/routes.js';
import { mappingsRouter } from '../mapping/routes.js';
import { pridokRouter } from '../ingest/pridok/routes.js';
import { requestContext } from '../platform/http/request-context.js';
import { fhirRouter } from '../fhir-api/router.js';

export function createApp(ctx: AppContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(requestContext());
  app.use(checkPathEncoding);
  // During shutdown every response (also of requests already in flight) tells the client to close the connection.
  app.use((_req, res, next) => {
    const writeHead = res.writeHead;
    res.writeHead = function (this: typeof res, ...args: Parameters<typeof writeHead>) {
      if (ctx.shuttingDown && !this.headersSent) this.setHeader('Connection', 'close');
      return writeHead.apply(this, args);
    } as typeof writeHead;
    next();
  });
  app.use(httpMetrics());
  app.use(healthRouter(ctx));
  app.use(metricsRouter({ refreshBeforeScrape: () => ctx.jobs.refreshQueueMetrics() }));
  app.use(agendashRouter(ctx));
  app.use(supervisorPageRouter(ctx));
  app.use(openApiRouter());
  // Before the global JSON parser: dictionary uploads (JSON or CSV) read their own bodies up to DICTIONARY_UPLOAD_LIMIT.
  app.use(dictionariesRouter(ctx));
  // Before the global JSON parser: HL7 v2, henvisning XML and Pridok webhooks read their own raw bodies (MESSAGE_MAX_BYTES).
  app.use(hl7v2Router({ auth: ctx.auth, hl7v2: ctx.ingest.hl7v2, maxBytes: ctx.config.ingest.messageMaxBytes }));
  app.use(henvisningRouter(ctx));
  app.use(pridokRouter(ctx));
  // Before the global JSON parser and error handlers: FHIR routes parse application/fhir+json themselves and answer
  // every error (also 404, bad JSON, 413) with an OperationOutcome. FHIR terminology (CodeSystem, ValueSet, $lookup,
  // $validate-code, $expand over the dictionaries) and the engine's extension definitions (StructureDefinition) are
  // extensions of the FHIR router.
  app.use(
    '/fhir',
    fhirRouter(ctx, [
      { router: fhirTerminologyRouter(ctx), capability: terminologyCapability },
      { router: structureDefinitionRouter(), capability: structureDefinitionCapability },
    ]),
  );
  app.use(jsonBody({ limit: ctx.config.bodyLimitBytes }));
  app.use(jobsRouter(ctx));
  app.use(messagesRouter(ctx));
  app.use(mappingsRouter({ auth: ctx.auth, mappings: ctx.ingest.mappings, currentMappings: ctx.ingest.currentMappings }));
  app.use(consultationsRouter(ctx));
  app.use(billingRouter(ctx));
  app.use(registriesRouter(ctx));
  app.use(carePlansRouter(ctx));
  app.use(notFoundHandler);
  // Errors raised before a family's router (path encoding, the shared JSON parser) in that family's body shape.
  app.use('/fhir', fhirErrorHandler());
  // Every /api error in the one envelope ({meta, error}); the henvisning transport answers its own (henvisning/routes.ts).
  app.use('/api', envelopeErrorHandler);
  app.use(jsonErrorHandler);
  return app;
}
