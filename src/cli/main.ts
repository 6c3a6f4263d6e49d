#!/usr/bin/env node
/**
 * The engine's command line (`hl7-engine` bin, or `npm run cli -- …`). Each concern registers its commands from its
 * own module; this file only assembles them.
 */
import { Command } from 'commander';
import { registerTokenCommand } from './token-command.js';
import { configureLogger } from '../platform/logging/logger.js';

const program = new Command();
program
  .name('hl7-engine')
  .description('Operate the HL7/FHIR integration engine: tokens, dictionaries, registries, ingest, replay, keys, tenants, a demo.')
  .showHelpAfterError()
  // stdout carries only the commands' results (so they can be piped); engine log lines go to stderr, and at the
  // default level only warnings and errors (LOG_LEVEL=info or debug shows more).
  .hook('preAction', () => void configureLogger(process.env.LOG_LEVEL ?? 'warn', { write: (line: string) => void process.stderr.write(line) }));

registerTokenCommand(program);
// The other commands pull in the database, ingest and dictionary code (about 2 s of module loading): `token`, which
// scripts call once per token, runs without them.
if (process.argv[2] !== 'token') {
  const [db, dictionaries, registries, messages, keys, tenants, demo] = await Promise.all([
    import('./db-command.js'),
    import('./dictionaries-command.js'),
    import('./registries-command.js'),
    import('./messages-command.js'),
    import('./keys-command.js'),
    import('./tenants-command.js'),
    import('./demo-command.js'),
  ]);
  dictionaries.registerDictionariesCommand(program);
  db.registerDatabaseCommands(program);
  registries.registerRegistriesCommand(program);
  messages.registerMessagesCommands(program);
  keys.registerKeysCommand(program);
  tenants.registerTenantsCommand(program);
  demo.registerDemoCommand(program);
}

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
