/**
 * `mappings list|current|use <name> <version>|check [--update]`,
 * `ingest <file…> --tenant <id> [--source henvisning|pridok] [--apprec-dir <dir>]` and
 * `replay [--tenant <id>] [--from <date>] [--to <date>] [--mapping-version <v>] [--mapping-name <n>] [--status <s>] [--source <s>] [--limit <n>] [--dry-run] [--use-mapping <name@version>]`.
 *
 * Both run the engine's own ingestion services against the database (no HTTP): `ingest` stores and processes files
 * exactly like POST /api/messages (.xml) or the Pridok webhook (.json, without signature: the operator is trusted),
 * for the tenant named with --tenant;
 * `replay` re-runs the current mappings on stored messages received in [from, to) — e.g. everything mapped by an older
 * mapping version (--mapping-version 1.0.0). With --dry-run it writes nothing and prints, per message, what the
 * current mappings would change in the FHIR resources (messages/preview.ts); --use-mapping runs an installed version
 * that is not current (preview it, then apply it with the same options).
 */
import fs from 'node:fs';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import type { Config } from '../platform/config/config.js';
import type { Database } from '../platform/db/mongo.js';
import { createIngestServices, type IngestServices } from '../app/ingest.js';
import type { MessageSource, MessageStatus } from '../ingest/message-store.js';
import { FhirStorage } from '../fhir-store/repository.js';
import { createMediaStorage } from '../platform/storage/index.js';
import { withDatabase } from './database.js';
import { loadConfig } from '../platform/config/config.js';
import { listExamples, mapFile, normaliseForGolden } from '../mapping/examples.js';
import { MappingRegistry } from '../mapping/registry.js';
import { CurrentMappings } from '../mapping/current.js';
import { ResourceIds } from '../mapping/resource-ids.js';
import { randomBytes } from 'node:crypto';
import { TenantDirectory } from '../platform/tenancy/directory.js';
import { assertTenantId } from '../platform/tenancy/tenant.js';
import type { MessagePreview } from '../ingest/preview.js';
import { countPreview, type PreviewSummary } from '../ingest/preview-job.js';

/** Runs `fn` with the ingest services; their worker threads are stopped afterwards. */
async function withServices<T>(database: Database, config: Config, fn: (ingest: IngestServices) => Promise<T>): Promise<T> {
  // The same repository class the engine uses, on the CLI's database connection.
  const fhir = new FhirStorage(database.db, { baseUrl: config.fhir.baseUrl });
  const ingest = await createIngestServices({
    config,
    database,
    media: createMediaStorage(config),
    fhir: (tenant) => fhir.forTenant(tenant),
    tenants: new TenantDirectory(config.tenants),
  });
  try {
    return await fn(ingest);
  } finally {
    await ingest.henvisning.close();
    await ingest.hl7v2.close();
  }
}

function bar(total: number, label: string): SingleBar | undefined {
  if (!process.stderr.isTTY || total < 2) return undefined;
  const b = new SingleBar({ format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta}s`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  b.start(total, 0);
  return b;
}

function parseDate(name: string, v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new Error(`${name} must be a date or date-time (ISO 8601), got "${v}"`);
  return d;
}

function listFiles(targets: string[]): string[] {
  const out: string[] = [];
  for (const t of targets) {
    const st = fs.statSync(t);
    if (st.isDirectory()) {
      for (const f of fs.readdirSync(t).sort()) if (/\.(xml|json)$/i.test(f)) out.push(path.join(t, f));
    } else out.push(t);
  }
  return out;
}

/** `mappings list` and `mappings check [--update]` (golden examples, see src/mapping/examples.ts). */
function registerMappingsCommand(program: Command): void {
  const cmd = program.command('mappings').description('Mappings (mappings/<name>/manifest.json + mapping.jsonata + examples)');
  const registry = () => {
    const dir = loadConfig().ingest.mappingsDir;
    return { dir, registry: new MappingRegistry(dir, new ResourceIds(randomBytes(32))) };
  };
  cmd
    .command('list')
    .description('Installed mappings with version and expression hash')
    .action(() => {
      const { registry: r } = registry();
      for (const m of r.list()) process.stdout.write(`${m.name.padEnd(24)} ${m.version.padEnd(10)} ${m.sha256.slice(0, 12)}\n`);
    });
  cmd
    .command('current')
    .description('Every installed version with the current one of each mapping marked "*" (the installation-wide choice in the database)')
    .action(async () => {
      await withDatabase(async (database) => {
        for (const m of await new CurrentMappings(database.db, registry().registry, { cacheMs: 0 }).installed()) {
          process.stdout.write(`${m.current ? '*' : ' '} ${m.name.padEnd(24)} ${m.version.padEnd(10)} ${m.sha256.slice(0, 12)}\n`);
        }
      });
    });
  cmd
    .command('use <name> <version>')
    .description('Make an installed version of a mapping the current one for every engine process (within MAPPING_SELECTION_CACHE_MS, no restart)')
    .action(async (name: string, version: string) => {
      await withDatabase(async (database) => {
        const doc = await new CurrentMappings(database.db, registry().registry, { cacheMs: 0 }).select(name, version, 'cli');
        process.stdout.write(`${doc.name} ${doc.version} is current (since ${doc.selected_at.toISOString()})\n`);
      });
    });
  cmd
    .command('check')
    .description('Run every mapping on its examples and compare with the golden .fhir.json files')
    .option('--update', 'write the golden files from the current output instead of comparing')
    .action(async (opts: { update?: boolean }) => {
      const { registry: r } = registry();
      let failures = 0;
      for (const ref of r.list()) {
        const mapping = r.byVersion(ref.name, ref.version)!;
        for (const ex of listExamples(mapping.folder)) {
          const { resources } = await mapFile(mapping, ex.input);
          const actual = `${JSON.stringify(normaliseForGolden(resources), null, 2)}\n`;
          if (opts.update) {
            fs.writeFileSync(ex.golden, actual);
            process.stdout.write(`${ref.name}/${ex.name}: written\n`);
          } else if (!fs.existsSync(ex.golden) || fs.readFileSync(ex.golden, 'utf8') !== actual) {
            failures++;
            process.stdout.write(`${ref.name}/${ex.name}: DIFFERS from ${path.basename(ex.golden)}\n`);
          } else process.stdout.write(`${ref.name}/${ex.name}: ok\n`);
        }
      }
      if (failures > 0) throw new Error(`${failures} example(s) differ from their golden files`);
    });
}

export function registerMessagesCommands(program: Command): void {
  registerMappingsCommand(program);
  program
    .command('ingest <files...>')
    .description('Store and process inbound messages from files (.xml henvisning/MsgHead, .json Pridok referral) like the HTTP endpoints')
    .requiredOption('--tenant <id>', 'the tenant (legal entity client_id) the messages are received for')
    .option('--source <source>', 'henvisning or pridok (default: by file extension)')
    .option('--apprec-dir <dir>', 'write each AppRec answer to <dir>/<file>.apprec.xml')
    .action(async (targets: string[], opts: { tenant: string; source?: string; apprecDir?: string }) => {
      const tenant = assertTenantId(opts.tenant, '--tenant');
      if (opts.source && opts.source !== 'henvisning' && opts.source !== 'pridok') throw new Error('--source must be henvisning or pridok');
      const files = listFiles(targets);
      if (opts.apprecDir) fs.mkdirSync(opts.apprecDir, { recursive: true });
      await withDatabase((database, config) => withServices(database, config, async (ingest) => {
        const counts: Record<string, number> = {};
        const progress = bar(files.length, 'ingest');
        for (const file of files) {
          const source: MessageSource = (opts.source as MessageSource | undefined) ?? (/\.json$/i.test(file) ? 'pridok' : 'henvisning');
          const bytes = fs.readFileSync(file);
          let line: string;
          if (source === 'henvisning') {
            const r = await ingest.henvisning.receive(bytes, 'application/xml', tenant);
            if (r.kind === 'apprec') {
              const outcome = r.duplicate ? 'duplicate' : r.status === '1' ? 'processed' : 'rejected';
              counts[outcome] = (counts[outcome] ?? 0) + 1;
              line = `${file}: ${outcome} (AppRec status ${r.status}, message ${r.messageId})`;
              if (opts.apprecDir) fs.writeFileSync(path.join(opts.apprecDir, `${path.basename(file)}.apprec.xml`), r.xml);
            } else {
              counts[r.type] = (counts[r.type] ?? 0) + 1;
              line = `${file}: ${r.type}: ${r.message}${r.messageId ? ` (message ${r.messageId})` : ''}`;
            }
          } else {
            const r = await ingest.pridok.receive(bytes, 'application/json', tenant);
            const outcome = 'data' in r ? (r.httpStatus === 200 ? 'duplicate' : 'processed') : r.error.type;
            counts[outcome] = (counts[outcome] ?? 0) + 1;
            line = `${file}: ${outcome} (HTTP ${r.httpStatus})`;
          }
          if (progress) progress.increment();
          else process.stdout.write(`${line}\n`);
        }
        progress?.stop();
        process.stdout.write(`${files.length} files: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}\n`);
      }));
    });

  program
    .command('replay')
    .description('Re-run the current mappings on stored messages received in [--from, --to) and record the new outcomes')
    .option('--tenant <id>', 'only messages of this tenant (default: every tenant)')
    .option('--from <date>', 'received at or after (ISO 8601)')
    .option('--to <date>', 'received before (ISO 8601)')
    .option('--mapping-version <version>', 'only messages last mapped with this mapping version')
    .option('--mapping-name <name>', 'only messages last mapped with this mapping (e.g. henvisning-v2.0)')
    .option('--status <status>', 'only messages with this status (received, processed, failed, rejected)')
    .option('--source <source>', 'henvisning, pridok or hl7v2')
    .option('--limit <n>', 'at most this many messages (default 10000)', (v) => Number(v))
    .option('--dry-run', 'write nothing; print per message what the current mappings would change in each FHIR resource')
    .option('--use-mapping <name@version>', 'run this installed mapping version instead of the current one (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .action(async (opts: { tenant?: string; from?: string; to?: string; mappingVersion?: string; mappingName?: string; status?: string; source?: string; limit?: number; dryRun?: boolean; useMapping?: string[] }) => {
      const statuses = ['received', 'processed', 'failed', 'rejected'];
      if (opts.status && !statuses.includes(opts.status)) throw new Error(`--status must be one of ${statuses.join(', ')}`);
      if (opts.source && !['henvisning', 'pridok', 'hl7v2'].includes(opts.source)) throw new Error('--source must be henvisning, pridok or hl7v2');
      if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) throw new Error('--limit must be a positive integer');
      const query = {
        tenant: opts.tenant === undefined ? undefined : assertTenantId(opts.tenant, '--tenant'),
        from: parseDate('--from', opts.from),
        to: parseDate('--to', opts.to),
        mappingVersion: opts.mappingVersion,
        mappingName: opts.mappingName,
        status: opts.status as MessageStatus | undefined,
        source: opts.source as MessageSource | undefined,
      };
      const selection: Record<string, string> = {};
      for (const u of opts.useMapping ?? []) {
        const at = u.lastIndexOf('@');
        if (at < 1 || at === u.length - 1) throw new Error(`--use-mapping must be <name>@<version>, got "${u}"`);
        selection[u.slice(0, at)] = u.slice(at + 1);
      }
      const checkInstalled = (ingest: IngestServices) => {
        for (const [name, version] of Object.entries(selection)) {
          if (!ingest.mappings.byVersion(name, version)) throw new Error(`--use-mapping: mapping ${name} has no installed version ${version}`);
        }
      };
      if (opts.dryRun) {
        await withDatabase((database, config) => withServices(database, config, async (ingest) => {
          checkInstalled(ingest);
          const counts: PreviewSummary = { messages: 0, changed: 0, unchanged: 0, not_processed: 0 };
          for await (const p of ingest.preview.previewMany(query, opts.limit, selection)) {
            countPreview(counts, p);
            process.stdout.write(describePreview(p));
          }
          process.stdout.write(
            `dry run: ${counts.messages} messages: ${counts.changed} would change FHIR resources, ${counts.unchanged} would change nothing, ${counts.not_processed} would not be processed; nothing was written\n`,
          );
        }));
        return;
      }
      await withDatabase((database, config) => withServices(database, config, async (ingest) => {
        checkInstalled(ingest);
        let progress: SingleBar | undefined;
        const summary = await ingest.replay.replayMany(query, {
          limit: opts.limit,
          selection,
          onProgress: (done, total) => {
            progress ??= bar(total, 'replay');
            progress?.update(done);
          },
        });
        progress?.stop();
        process.stdout.write(`${summary.matched} messages replayed: ${summary.processed} processed, ${summary.rejected} rejected, ${summary.failed} failed\n`);
        for (const n of summary.not_processed.slice(0, 50)) process.stdout.write(`  ${n.id}: ${n.status}${n.code ? ` (${n.code})` : ''}\n`);
      }));
    });
}

const REASONS: Partial<Record<string, string>> = {
  kept: 'the mapping updates no field of it',
  skipped_state: 'its state no longer allows updates',
  skipped_older: 'a newer message wrote it',
};

/** One message of a dry run: a header line, then one line per resource (changed ones with their field diff). */
export function describePreview(p: MessagePreview): string {
  const mapping = p.mapping ? ` ${p.mapping.name} ${p.mapping.version}` : '';
  const was = p.storedMapping ? ` (stored: ${p.storedMapping.name} ${p.storedMapping.version}, ${p.status})` : ` (stored: ${p.status})`;
  if (p.outcome !== 'processed') {
    return `${p.id} ${p.source} tenant ${p.tenant}${mapping}${was}: would be ${p.outcome}${p.error ? ` (${p.error.code}: ${p.error.message})` : ''}\n`;
  }
  const n = (c: string) => p.resources.filter((r) => r.change === c).length;
  const lines = [`${p.id} ${p.source} tenant ${p.tenant}${mapping}${was}: ${n('changed')} changed, ${n('created')} created, ${n('unchanged')} unchanged`];
  for (const r of p.resources) {
    const reason = r.change === 'unchanged' && REASONS[r.action] ? ` (${REASONS[r.action]})` : '';
    lines.push(`  ${r.change.padEnd(9)} ${r.reference}${reason}${r.diff ? ` ${JSON.stringify(r.diff)}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
