/**
 * `demo [--url <engine>] [--out <dir>] [--trust] [--legal-entity <id>] [--tax-id <id>]`: everything a first signed care
 * plan activity needs, for one demo legal entity, against a running engine:
 *
 *   1. a CA and a signer (node-forge; the signer's subject serialNumber is the party's tax id), written to --out;
 *   2. with --trust, the CA appended to the SIGNATURE_TRUST_ANCHORS file (the engine reloads it, no restart);
 *   3. the registry records (also written as registries.json, the bundle `registries load` reads) loaded;
 *   4. a care plan created over the engine's API with a token for the party's user, and the author's approval;
 *   5. the activity signed (activity.json, activity-request.json).
 *
 * Its stdout is a shell script (comments and commands): a token, the POST of the signed activity and the poll of its
 * job. Not for production data: the demo keys are written unencrypted.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { mintLocalToken } from '../platform/auth/keys.js';
import { loadConfig } from '../platform/config/config.js';
import { createDemoPki, signContent } from './demo/pki.js';
import { DEMO_SCOPES, demoActivity, demoApproval, demoCarePlanBody, demoRegistryRecords, newDemoIds } from './demo/care-plan-world.js';
import { loadRegistryBatches, readRegistryFiles } from '../registries/loader.js';
import { RegistryStore } from '../registries/store.js';
import { projectPath } from '../platform/paths.js';
import { withDatabase } from './database.js';

interface DemoOptions {
  url?: string;
  out?: string;
  trust?: boolean;
  legalEntity?: string;
  taxId: string;
}

const ORGANISATION = 'Demo clinic';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const quote = (s: string) => (/^[A-Za-z0-9_./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Set up a demo legal entity (CA and signer, registry records, care plan, approval, signed activity) and print the commands that post it')
    .option('--url <url>', 'the running engine (default http://localhost:$PORT)')
    .option('--out <dir>', 'where the certificates, keys and request bodies go (default $DATA_DIR/demo)')
    .option('--trust', "append the demo CA to the SIGNATURE_TRUST_ANCHORS file (the engine reloads it within SIGNATURE_TRUST_RELOAD_MS)")
    .option('--legal-entity <uuid>', 'the demo legal entity id (default: a new one)')
    .option('--tax-id <id>', "the party's tax id, carried as the signer's serialNumber", '3012345678')
    .action(async (opts: DemoOptions) => {
      const config = loadConfig();
      if (config.auth.jwksFile || config.auth.jwksUri) {
        throw new Error('demo: AUTH_JWKS_FILE/AUTH_JWKS_URI is set; the demo signs its tokens with the local key and needs the embedded default mode.');
      }
      if (opts.legalEntity !== undefined && !UUID_RE.test(opts.legalEntity)) throw new Error('demo: --legal-entity must be a UUID');
      if (!/^[0-9A-Za-z-]{1,20}$/.test(opts.taxId)) throw new Error('demo: --tax-id must be 1 to 20 letters, digits or dashes');
      const anchorsFile = config.signature.trustAnchorsFile;
      if (opts.trust && !anchorsFile) throw new Error('demo: --trust needs SIGNATURE_TRUST_ANCHORS (the file the engine reads its trust anchors from)');
      const url = (opts.url ?? `http://localhost:${config.port}`).replace(/\/+$/, '');
      const dataDir = path.resolve(config.dataDir);
      const out = path.resolve(opts.out ?? path.join(dataDir, 'demo'));
      fs.mkdirSync(out, { recursive: true });
      const write = (name: string, text: string, mode = 0o644) => {
        fs.writeFileSync(path.join(out, name), text, { mode });
        return path.join(out, name);
      };

      const ids = newDemoIds(opts.legalEntity);
      const pki = createDemoPki({ organisation: ORGANISATION, signerName: 'Demo Doctor', taxId: opts.taxId });
      const caFile = write('ca.pem', pki.caCertPem);
      write('ca.key', pki.caKeyPem, 0o600);
      write('signer.pem', pki.signerCertPem);
      write('signer.key', pki.signerKeyPem, 0o600);
      if (opts.trust) fs.appendFileSync(anchorsFile!, `\n${pki.caCertPem}`);
      const registriesFile = write('registries.json', `${JSON.stringify(demoRegistryRecords(ids, opts.taxId, ORGANISATION), null, 2)}\n`);

      const token = await mintLocalToken(config.dataDir, { scope: DEMO_SCOPES, sub: ids.userId, clientId: ids.legalEntityId, expiresIn: '1h' });
      const { carePlanId, approvalId } = await withDatabase(async (database) => {
        const store = new RegistryStore(database.db);
        await loadRegistryBatches(store, readRegistryFiles(registriesFile), 'demo');
        const carePlanBody = demoCarePlanBody(ids);
        write('care-plan.json', `${JSON.stringify(carePlanBody, null, 2)}\n`);
        const res = await fetch(`${url}/api/patients/${ids.patientId}/care_plans`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(carePlanBody),
        }).catch((err: Error) => {
          throw new Error(`demo: the engine at ${url} cannot be reached (${err.message}); start it or pass --url`);
        });
        const body = (await res.json().catch(() => undefined)) as { data?: { id?: string } } | undefined;
        if (res.status !== 201 || !body?.data?.id) throw new Error(`demo: creating the care plan answered ${res.status}: ${JSON.stringify(body)}`);
        const approval = demoApproval(ids, body.data.id);
        await store.upsertMany('approvals', [approval], 'demo');
        return { carePlanId: body.data.id, approvalId: approval.id };
      });

      const activity = demoActivity(ids, carePlanId);
      const content = JSON.stringify(activity);
      write('activity.json', `${content}\n`);
      const requestFile = write('activity-request.json', `${JSON.stringify({ signed_data: signContent(content, pki.signerCertPem, pki.signerKeyPem).toString('base64') })}\n`);

      const activities = `${url}/api/patients/${ids.patientId}/care_plans/${carePlanId}/activities`;
      const trustLine = opts.trust
        ? `# The CA was appended to ${anchorsFile}; the engine reloads it within ${config.signature.reloadCheckMs / 1000} s (SIGNATURE_TRUST_RELOAD_MS): wait for it.`
        : anchorsFile
          ? `# Trust the demo CA first: cat ${quote(caFile)} >> ${quote(anchorsFile)}   (reloaded within ${config.signature.reloadCheckMs / 1000} s, no restart)`
          : `# Trust the demo CA first: restart the engine with SIGNATURE_TRUST_ANCHORS=${quote(caFile)}`;
      const lines = [
        `# Demo legal entity ${ids.legalEntityId} (${ORGANISATION}); files in ${out}`,
        `#   registry records: ${registriesFile} (loaded); care plan ${carePlanId} of patient ${ids.patientId}; approval ${approvalId}`,
        `#   signer: CN=Demo Doctor, serialNumber=${opts.taxId} (the party's tax id), issued by ${caFile}`,
        trustLine,
        ...(opts.trust ? [`sleep ${Math.ceil(config.signature.reloadCheckMs / 1000) + 1}`] : []),
        `TOKEN=$(DATA_DIR=${quote(dataDir)} node ${quote(projectPath('dist', 'cli', 'main.js'))} token --scope ${quote(DEMO_SCOPES)} --sub ${ids.userId} --client-id ${ids.legalEntityId})`,
        `JOB=$(curl -sS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data @${quote(requestFile)} ${activities} | jq -r '.data.links[0].href')`,
        `while curl -sS -H "Authorization: Bearer $TOKEN" "${url}$JOB" | jq -e '.data.status == "pending"' > /dev/null; do sleep 1; done`,
        `curl -sS -H "Authorization: Bearer $TOKEN" "${url}$JOB" | jq .`,
        '',
      ];
      process.stdout.write(lines.join('\n'));
    });
}
