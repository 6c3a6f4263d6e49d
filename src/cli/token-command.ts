import type { Command } from 'commander';
import { mintLocalToken } from '../platform/auth/keys.js';
import { loadConfig } from '../platform/config/config.js';

/** `token --scope "a b" --sub user [--client-id le] [--expires-in 1h]`: prints a token signed with the local key. */
export function registerTokenCommand(program: Command): void {
  program
    .command('token')
    .description('Print a bearer token signed with the local key (embedded default mode, no identity provider)')
    .requiredOption('--scope <scopes>', 'space-separated scopes, e.g. "messages:write fhir:read"')
    .option('--sub <user>', 'subject (user id)', 'local-user')
    .option('--client-id <legalEntity>', 'client_id claim (legal entity id)')
    .option('--expires-in <span>', 'lifetime, e.g. 30m, 8h', '1h')
    .action(async (opts: { scope: string; sub: string; clientId?: string; expiresIn: string }) => {
      const config = loadConfig();
      if (config.auth.jwksFile || config.auth.jwksUri) {
        throw new Error('token: AUTH_JWKS_FILE/AUTH_JWKS_URI is set, so the engine trusts an external identity provider; get tokens there.');
      }
      const token = await mintLocalToken(config.dataDir, { scope: opts.scope, sub: opts.sub, clientId: opts.clientId, expiresIn: opts.expiresIn });
      process.stdout.write(`${token}\n`);
    });
}
