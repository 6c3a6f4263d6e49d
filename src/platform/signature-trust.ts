/**
 * The signature trust store named by the configuration (SIGNATURE_TRUST_ANCHORS, SIGNATURE_CRL_FILES,
 * SIGNATURE_ALLOW_SHA1), read from its files, and kept current while the engine runs.
 *
 * Reloading the trust store without a restart: the files named by SIGNATURE_TRUST_ANCHORS and SIGNATURE_CRL_FILES are
 * checked every SIGNATURE_TRUST_RELOAD_MS (their size and modification time); when one changed, the whole store is
 * read again and, only if every file parses, replaces the one in use. A file caught half-written or broken leaves the
 * previous store in force (logged as an error) and is read again on the next change. Each engine process watches its
 * own copy of the files, so every process picks a change up within one interval.
 */
import fs from 'node:fs';
import { createTrustStore, describe, pemBlocks, type TrustStore } from '../lib/signature/trust-store.js';
import { ConfigError, type Config } from './config/config.js';
import type { Logger } from './logging/logger.js';

/**
 * The trust store named by the configuration. With no SIGNATURE_TRUST_ANCHORS, or an empty file, the store is empty
 * and every signature is `untrusted_signer`. Unreadable or unparseable files are configuration errors (the engine refuses to start).
 */
export function loadTrustStore(config: { signature: Pick<Config['signature'], 'trustAnchorsFile' | 'crlFiles' | 'allowSha1'> }): TrustStore {
  const { trustAnchorsFile, crlFiles, allowSha1 } = config.signature;
  let anchors: Buffer | undefined;
  if (trustAnchorsFile) {
    try {
      anchors = fs.readFileSync(trustAnchorsFile);
    } catch (err) {
      throw new ConfigError('SIGNATURE_TRUST_ANCHORS', `cannot be read: ${(err as NodeJS.ErrnoException).code ?? describe(err)}`);
    }
    // An empty file is a bundle with no anchors yet (CAs added later are picked up without a restart, trust-reload.ts).
    if (anchors.toString('latin1').trim() === '') anchors = undefined;
    else if (pemBlocks(anchors, 'CERTIFICATE').length === 0) {
      throw new ConfigError('SIGNATURE_TRUST_ANCHORS', `contains no PEM certificate: ${trustAnchorsFile}`);
    }
  }
  const crls: Buffer[] = [];
  for (const file of crlFiles) {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (err) {
      throw new ConfigError('SIGNATURE_CRL_FILES', `file cannot be read (${(err as NodeJS.ErrnoException).code ?? describe(err)}): ${file}`);
    }
    crls.push(bytes);
  }
  try {
    return createTrustStore({ anchors, crls, allowSha1 });
  } catch (err) {
    const variable = /^CRL/.test(describe(err)) ? 'SIGNATURE_CRL_FILES' : 'SIGNATURE_TRUST_ANCHORS';
    throw new ConfigError(variable, describe(err));
  }
}

interface TrustReloader {
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
