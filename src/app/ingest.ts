/**
 * The referral-ingestion services in the AppContext (`ctx.ingest`): message store, mappings, deterministic ids,
 * henvisning, Pridok and HL7 v2 processors, replay and its dry run (preview).
 */
import type { Config } from '../platform/config/config.js';
import type { Database } from '../platform/db/mongo.js';
import { HenvisningService } from '../ingest/henvisning/service.js';
import { Hl7v2Service } from '../ingest/hl7v2/service.js';
import { MappingRegistry } from '../mapping/registry.js';
import { CurrentMappings } from '../mapping/current.js';
import { PridokService } from '../ingest/pridok/service.js';
import { ResourceCache, type FhirStore } from '../ingest/apply.js';
import { Limiter } from '../ingest/limiter.js';
import { loadResourceIds, type ResourceIds } from '../mapping/resource-ids.js';
import type { MediaStorage } from '../platform/storage/media-storage.js';
import type { TenantDirectory } from '../platform/tenancy/directory.js';
import { RecoveryService } from '../ingest/recovery.js';
import { ReplayService } from '../ingest/replay.js';
import { PreviewService } from '../ingest/preview.js';
import { MessageStore } from '../ingest/message-store.js';


export interface IngestServices {
  messages: MessageStore;
  mappings: MappingRegistry;
  /** Which installed version of each mapping is current (installation-wide, in the database). */
  currentMappings: CurrentMappings;
  ids: ResourceIds;
  henvisning: HenvisningService;
  pridok: PridokService;
  hl7v2: Hl7v2Service;
  replay: ReplayService;
  /** What a replay with the current mappings would change, without writing (replay --dry-run). */
  preview: PreviewService;
  /** Processes messages left unfinished by engines that died (started by the engine, not by CLI commands). */
  recovery: RecoveryService;
}

/**
 * Builds the services. `fhir` is read lazily (the FHIR repository is created by its own concern) so start-up order
 * does not matter.
 */
export async function createIngestServices(deps: {
  config: Config;
  database: Database;
  media: MediaStorage;
  /** The FHIR repository of a tenant. */
  fhir: (tenant: string) => FhirStore;
  tenants: TenantDirectory;
}): Promise<IngestServices> {
  const { config, database, media, fhir, tenants } = deps;
  const messages = new MessageStore(database.db, media, {
    retentionDays: config.ingest.retentionDays,
    inlineMaxBytes: config.ingest.messageInlineMaxBytes,
  });
  const ids = await loadResourceIds(database.db, config.ingest.resourceIdKey);
  const mappings = new MappingRegistry(config.ingest.mappingsDir, ids);
  const currentMappings = new CurrentMappings(database.db, mappings, { cacheMs: config.ingest.mappingSelectionCacheMs });
  const limiter = new Limiter(config.ingest.concurrency);
  const cache = new ResourceCache();
  const henvisning = new HenvisningService(messages, fhir, mappings, {
    maxBytes: config.ingest.messageMaxBytes,
    tenants,
    ids,
    limiter,
    cache,
    limits: config.ingest.xmlLimits,
    pool: { threads: config.ingest.workerThreads, timeBudgetMs: config.ingest.timeBudgetMs, maxHeapMb: config.ingest.workerMaxHeapMb },
    futureSkewMs: config.ingest.futureSkewMs,
    leaseMs: config.ingest.leaseMs,
    currentMappings,
  });
  const pridok = new PridokService(messages, fhir, mappings, { ids, currentMappings, limiter, cache, futureSkewMs: config.ingest.futureSkewMs, leaseMs: config.ingest.leaseMs });
  const hl7v2 = new Hl7v2Service(messages, fhir, mappings, {
    tenants,
    ids,
    currentMappings,
    limiter,
    cache,
    pool: { threads: config.ingest.workerThreads, timeBudgetMs: config.ingest.timeBudgetMs, maxHeapMb: config.ingest.workerMaxHeapMb },
    futureSkewMs: config.ingest.futureSkewMs,
    leaseMs: config.ingest.leaseMs,
  });
  const processors = { henvisning, pridok, hl7v2 };
  const replay = new ReplayService(messages, processors, { leaseMs: config.ingest.leaseMs });
  const preview = new PreviewService(messages, processors, fhir);
  const recovery = new RecoveryService(messages, processors, { leaseMs: config.ingest.leaseMs, intervalMs: config.ingest.recoveryIntervalMs });
  return { messages, mappings, currentMappings, ids, henvisning, pridok, hl7v2, replay, preview, recovery };
}
