/**
 * `keys` commands (field-encryption keys; see docs/consultations.md, "Encryption at rest and key rotation"):
 *
 *   keys generate                 print a new random key as "<kid>:<base64>" for ENCRYPTION_KEYS
 *   keys status                   the key source, the active key id and how many records each key id protects
 *   keys rotate [--new-local-key] [--dry-run] [--batch-size n]
 *                                 re-encrypt every record not under the active key (ENCRYPTION_ACTIVE_KEY_ID);
 *                                 --new-local-key (embedded default mode only) first adds a new local key and makes it
 *                                 active. Exit code 1 when some record could not be re-encrypted.
 */
import type { Command } from 'commander';
import { FieldCipher } from '../lib/crypto/field-cipher.js';
import { addLocalKey, generateKeyLine, loadKeyring } from '../lib/crypto/keyring.js';
import { keyUsage, rotateConsultationResults, rotateReports, type RotationStats } from '../consultations/rotation.js';
import { createMediaStorage } from '../platform/storage/index.js';
import { withDatabase } from './database.js';

export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('Field-encryption keys: generate, status, rotate (re-encrypt with the active key)');

  keys
    .command('generate')
    .description('Print a new random 32-byte key as "<kid>:<base64>" (add it to ENCRYPTION_KEYS)')
    .action(() => {
      const { kid, line } = generateKeyLine();
      process.stdout.write(`${line}\n`);
      process.stderr.write(`Add it to ENCRYPTION_KEYS (comma-separated, keep the old keys) and set ENCRYPTION_ACTIVE_KEY_ID=${kid}, restart every instance, then run "keys rotate".\n`);
    });

  keys
    .command('status')
    .description('Show the key source, the active key id and the records per key id')
    .action(async () => {
      await withDatabase(async (database, config) => {
        const ring = loadKeyring(config);
        const usage = await keyUsage(database.db);
        process.stdout.write(`key source: ${ring.mode === 'config' ? 'ENCRYPTION_KEYS' : 'local key file (embedded default; not for production)'}\n`);
        process.stdout.write(`active key: ${ring.active().kid}\nknown keys: ${ring.keyIds().join(', ')}\n`);
        for (const [name, counts] of Object.entries(usage)) {
          const parts = Object.entries(counts).map(([kid, n]) => `${kid}=${n}${ring.keyIds().includes(kid) ? '' : ' (KEY NOT CONFIGURED)'}`);
          process.stdout.write(`${name}: ${parts.length ? parts.join(', ') : 'none'}\n`);
        }
      });
    });

  keys
    .command('rotate')
    .description('Re-encrypt every record that is not under the active key')
    .option('--new-local-key', 'embedded default mode: add a new local key and make it active first')
    .option('--dry-run', 'only count the records that would be re-encrypted')
    .option('--batch-size <n>', 'records per batch', '200')
    .action(async (opts: { newLocalKey?: boolean; dryRun?: boolean; batchSize: string }) => {
      const batchSize = Number(opts.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) throw new Error('keys rotate: --batch-size must be an integer from 1 to 10000');
      const failed = await withDatabase(async (database, config) => {
        if (opts.newLocalKey) {
          if (config.encryption.keys.length > 0) {
            throw new Error('keys rotate: --new-local-key is for the embedded default mode; with ENCRYPTION_KEYS add a key there (keys generate) and set ENCRYPTION_ACTIVE_KEY_ID');
          }
          const kid = addLocalKey(config.dataDir);
          process.stderr.write(`added local key ${kid} (now active)\n`);
        }
        const cipher = new FieldCipher(loadKeyring(config));
        process.stderr.write(`active key: ${cipher.activeKeyId}${opts.dryRun ? ' (dry run)' : ''}\n`);
        let lastPrint = 0;
        const onProgress = (name: string, done: number, total: number) => {
          if (Date.now() - lastPrint > 1000 || done === total) {
            lastPrint = Date.now();
            process.stderr.write(`  ${name}: ${done}/${total}\n`);
          }
        };
        const results: RotationStats[] = [
          await rotateConsultationResults(database.db, cipher, { dryRun: opts.dryRun, batchSize, onProgress }),
          await rotateReports(database.db, cipher, createMediaStorage(config), { dryRun: opts.dryRun, onProgress }),
        ];
        for (const r of results) {
          process.stdout.write(
            opts.dryRun
              ? `${r.name}: ${r.found} to re-encrypt\n`
              : `${r.name}: ${r.found} found, ${r.reencrypted} re-encrypted, ${r.failed.length} failed\n`,
          );
          for (const f of r.failed) process.stdout.write(`  failed ${f.id}: ${f.error}\n`);
        }
        return results.reduce((n, r) => n + r.failed.length, 0);
      });
      if (failed > 0) process.exitCode = 1;
    });
}
