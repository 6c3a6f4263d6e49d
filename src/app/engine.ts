/**
 * Starting and stopping the engine: database (external or embedded), collections and indexes, auth keys, HTTP server,
 * graceful shutdown. Used by `main.ts` and, in-process, by the tests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Authenticator } from '../platform/auth/middleware.js';
import { loadKeySource } from '../platform/auth/keys.js';
import type { Config } from '../platform/config/config.js';
import { collectionSpecs } from './collections.js';
import { connectDatabase, ensureCollections } from '../platform/db/mongo.js';
import { ensureFerretDbIdIndexes } from '../platform/db/ferretdb-sqlite.js';
import { resolveDatabase, type EmbeddedDatabase } from '../platform/devdb/devdb.js';
import { createApp } from './http.js';
import { startConsultations } from './consultations.js';
import { buildServices } from './services.js';
import { deliverNotificationJob } from '../notifications/delivery-job.js';
import { jobDefinitions } from './jobs.js';
import { MllpServer } from '../ingest/hl7v2/mllp.js';
import type { JobDefinition } from '../jobs/types.js';
import type { AppContext } from './context.js';
import { rootLogger } from '../platform/logging/logger.js';
import { loadTrustStore, watchTrustStore } from '../platform/signature-trust.js';

export interface RunningEngine {
  ctx: AppContext;
  server: http.Server;
  port: number;
  url: string;
  /** The MLLP listener's port (HL7V2_MLLP_PORT set), else undefined. */
  mllpPort: number | undefined;
  /** Graceful stop: refuse new connections, finish in-flight requests (bounded), close the database. */
  stop(): Promise<void>;
}

/** How long an idle keep-alive connection stays open (see docs/input-limits.md). */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** How long a client may take to send the request headers; above KEEP_ALIVE_TIMEOUT_MS as Node requires. */
export const HEADERS_TIMEOUT_MS = 66_000;

interface EngineOptions {
  /** Extra job definitions (tests use this to exercise the job runner with jobs of their own). */
  extraJobDefinitions?: JobDefinition<any>[];
}

export async function startEngine(config: Config, options: EngineOptions = {}): Promise<RunningEngine> {
  const logger = rootLogger();
  // Before the database: a bad trust anchor bundle or CRL file stops start-up at once.
  const signatureTrust = loadTrustStore(config);
  for (const w of signatureTrust.warnings) logger.warn(w);
  logger.info({ anchors: signatureTrust.anchors.length, crls: signatureTrust.crls.length }, 'signature trust store loaded');
  const embedded: EmbeddedDatabase = await resolveDatabase({
    uri: config.mongodbUri,
    dataDir: path.join(config.dataDir, 'db'),
    onProgress: (m) => logger.info(m),
  });
  if (embedded.kind !== 'external') logger.info({ kind: embedded.kind, uri: embedded.uri }, 'embedded database started');
  const database = await connectDatabase(embedded.uri, config.mongodbDatabase);
  await ensureCollections(database.db, collectionSpecs);
  await ensureFerretDbIdIndexes(database.db, embedded.uri, config.mongodbDatabase);
  const keys = await loadKeySource(config);
  const auth = new Authenticator(keys, { issuer: config.auth.issuer, audience: config.auth.audience });
  const { services: ctx, outbox } = await buildServices({ config, database, auth, signatureTrust });
  const trustReload = watchTrustStore(config, logger, (store) => void (ctx.signatureTrust = store));
  ctx.ingest.messages.startSweeper(3_600_000, (err) => logger.warn({ err: { message: (err as Error).message } }, 'message retention sweep failed'));
  ctx.ingest.henvisning.start();
  ctx.ingest.recovery.start((err) => logger.warn({ err: { message: (err as Error).message } }, 'recovery of unfinished messages failed'));

  // The notice delivery job takes its retries and backoff from the configuration (NOTIFY_MAX_ATTEMPTS, NOTIFY_BACKOFF_MS).
  ctx.jobs.register([...jobDefinitions, deliverNotificationJob(config.notifications) as JobDefinition<any>, ...(options.extraJobDefinitions ?? [])], ctx);
  await ctx.jobs.start();
  const consultations = await startConsultations(ctx, outbox);
  ctx.billing.start();
  const app = createApp(ctx);
  const server = http.createServer(app);
  server.requestTimeout = 120_000;
  // Idle keep-alive connections stay open longer than clients and proxies keep theirs (commonly 60 s), so a
  // reused connection is never closed by the engine just as a request is sent on it (Node's default is 5 s).
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  ctx.publicUrl = config.publicUrl ?? `http://localhost:${port}`;
  logger.info({ port, auth: keys.mode }, 'engine listening');
  let mllp: MllpServer | undefined;
  let mllpPort: number | undefined;
  if (config.mllp.port !== undefined) {
    ctx.ingest.hl7v2.start();
    mllp = new MllpServer(ctx.ingest.hl7v2, { ...config.mllp, port: config.mllp.port });
    mllpPort = await mllp.listen();
    logger.info({ port: mllpPort, tls: !!config.mllp.tls }, 'mllp listening');
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      ctx.shuttingDown = true;
      trustReload.stop();
      logger.info('shutting down: no new connections, draining in-flight requests');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const mllpClosed = mllp?.close(config.shutdownTimeoutMs);
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        logger.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timeout: closing remaining connections');
        server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      await closed;
      await mllpClosed;
      clearTimeout(timer);
      await ctx.jobs.stop(config.shutdownTimeoutMs);
      // Background work started with the engine finishes before the database goes away (bounded like the rest).
      await Promise.race([
        Promise.all([consultations.repair, ctx.billing.stop(), ctx.ingest.messages.stopSweeper(), ctx.ingest.recovery.stop()]),
        new Promise((r) => setTimeout(r, config.shutdownTimeoutMs).unref()),
      ]);
      await ctx.ingest.henvisning.close();
      await ctx.ingest.hl7v2.close();
      await ctx.audit.flush();
      await database.close();
      await embedded.stop();
      logger.info('shutdown complete');
    })());

  return { ctx, server, port, url: `http://127.0.0.1:${port}`, mllpPort, stop };
}
