/**
 * Every collection the engine uses, with its indexes, created at start-up by `ensureCollections` (idempotent).
 * Each concern declares its own specs; this list only gathers them.
 */
import { billingCollectionSpecs } from '../billing/service.js';
import { consultationCollectionSpecs } from './consultations.js';
import { dictionaryCollections } from '../dictionaries/store.js';
import { jobCollections } from '../jobs/job-runner.js';
import { messageCollections } from '../ingest/message-store.js';
import { ingestSettingsCollection } from '../mapping/resource-ids.js';
import { registryCollections } from '../registries/definitions.js';
import { carePlanCollections } from '../careplans/collections.js';
import { claimCollections } from '../platform/db/claims.js';
import type { CollectionSpec } from '../platform/db/mongo.js';
import { fhirCollectionSpecs } from '../fhir-store/collections.js';
import { operatorAccessCollection } from '../platform/tenancy/request-tenant.js';
import { mappingSelectionCollection } from '../mapping/current.js';

export const collectionSpecs: CollectionSpec[] = [...claimCollections, ...jobCollections, ...registryCollections, ...carePlanCollections, ...messageCollections, ingestSettingsCollection, ...dictionaryCollections, ...consultationCollectionSpecs, ...billingCollectionSpecs, ...fhirCollectionSpecs(), operatorAccessCollection, mappingSelectionCollection];
