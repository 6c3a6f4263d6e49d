/**
 * `tenants list` (the configured tenants and their message routing, without secrets) and
 * `tenants assign --tenant <id> [--dry-run]` (gives data stored before tenancy to one tenant; see tenant-assign.ts).
 */
import type { Command } from 'commander';
import { loadConfig } from '../platform/config/config.js';
import { assertTenantId } from '../platform/tenancy/tenant.js';
import { withDatabase } from './database.js';
import { assignTenant, type AssignCounts } from './tenant-assign.js';

export function registerTenantsCommand(program: Command): void {
  const cmd = program.command('tenants').description('Tenants (legal entities): configured routing, and assigning data stored before tenancy');
  cmd
    .command('list')
    .description('The tenants of TENANTS / TENANTS_FILE with their receiver HER-ids and whether a Pridok secret is set')
    .action(() => {
      for (const t of loadConfig().tenants) {
        process.stdout.write(`${t.id}${t.name ? ` (${t.name})` : ''}: HER-ids ${t.henvisningReceiverHerIds.join(', ') || '-'}; Pridok ${t.pridokWebhookSecret ? 'on' : 'off'}\n`);
      }
    });
  cmd
    .command('assign')
    .description('Give every record stored without a tenant (messages, consultations, reports, FHIR resources) to one tenant; idempotent')
    .requiredOption('--tenant <id>', 'the tenant (legal entity client_id) that owns the existing data')
    .option('--dry-run', 'count what would be assigned, change nothing')
    .action(async (opts: { tenant: string; dryRun?: boolean }) => {
      const tenant = assertTenantId(opts.tenant, '--tenant');
      await withDatabase(async (database) => {
        const counts: AssignCounts = await assignTenant(database.db, tenant, {
          dryRun: opts.dryRun,
          onProgress: (what, done) => process.stderr.write(`${what}: ${done}\n`),
        });
        const verb = opts.dryRun ? 'would be assigned' : 'assigned';
        process.stdout.write(
          `${verb} to ${tenant}: ${counts.messages} messages, ${counts.consultations} consultations, ${counts.reports} reports, ` +
            `${counts.fhirCurrent} FHIR resources, ${counts.fhirHistory} FHIR versions, ${counts.postingKeys} search keys\n`,
        );
      });
    });
}
