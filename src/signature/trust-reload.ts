/**
 * Reloading the trust store without a restart: the files named by SIGNATURE_TRUST_ANCHORS and SIGNATURE_CRL_FILES are
 * checked every SIGNATURE_TRUST_RELOAD_MS (their size and modification time); when one changed, the whole store is
 * read again and, only if every file parses, replaces the one in use. A file caught half-written or broken leaves the
 * previous store in force (logged as an error) and is read again on the next change. Each engine process watches its
 * own copy of the files, so every process picks a change up within one interval.
 */
import fs from 'node:fs';
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { loadTrustStore, type TrustStore } from './trust-store.js';

export interface TrustReloader {
  stop(): void;
}

export function watchTrustStore(
  config: Pick<Config, 'signature'>,
  logger: Logger,
  onReload: (store: TrustStore) => void,
): TrustReloader {
  const { trustAnchorsFile, crlFiles, reloadCheckMs } = config.signature;
  const files = [...(trustAnchorsFile ? [trustAnchorsFile] : []), ...crlFiles];
  if (reloadCheckMs === 0 || files.length === 0) return { stop: () => undefined };
  const changed = (cur: fs.Stats, prev: fs.Stats) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size) return;
    try {
      const store = loadTrustStore(config);
      for (const w of store.warnings) logger.warn(w);
      onReload(store);
      logger.info({ anchors: store.anchors.length, crls: store.crls.length }, 'signature trust store reloaded');
    } catch (err) {
      logger.error({ err: { message: (err as Error).message } }, 'signature trust store not reloaded: the previous anchors and CRLs stay in force');
    }
  };
  for (const f of files) fs.watchFile(f, { interval: reloadCheckMs, persistent: false }, changed);
  return { stop: () => files.forEach((f) => fs.unwatchFile(f, changed)) };
}
