/**
 * The FHIR repository's collections (see repository.ts): one per resource type for current versions, one for all
 * versions, one for the search index. They carry no secondary indexes: every access is by `_id` (the only access
 * FerretDB pushes down), and the search index is itself a collection of `_id`-keyed posting slots.
 */
import type { CollectionSpec } from '../platform/db/mongo.js';
import { currentCollectionName, HISTORY_COLLECTION, RESOURCE_TYPES, SEARCH_INDEX_COLLECTION } from './resource-types.js';

export function fhirCollectionSpecs(): CollectionSpec[] {
  return [
    ...[...RESOURCE_TYPES.keys()].map((t) => ({ name: currentCollectionName(t), indexes: [] })),
    { name: HISTORY_COLLECTION, indexes: [] },
    { name: SEARCH_INDEX_COLLECTION, indexes: [] },
  ];
}
