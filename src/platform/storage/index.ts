/** The engine's media storage: local filesystem under `<DATA_DIR>/media` (see LocalMediaStorage). */
import path from 'node:path';
import type { Config } from '../config/config.js';
import { LocalMediaStorage } from './local-media-storage.js';
import type { MediaStorage } from './media-storage.js';

export function createMediaStorage(config: Pick<Config, 'dataDir'>): MediaStorage {
  return new LocalMediaStorage(path.join(config.dataDir, 'media'));
}

export { LocalMediaStorage } from './local-media-storage.js';
export * from './media-storage.js';
