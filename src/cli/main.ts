#!/usr/bin/env node
/**
 * The engine's command line (`hl7-engine` bin, or `npm run cli -- …`). Each concern registers its commands from its
 * own module; this file only assembles them.
 */
import { Command } from 'commander';
import { registerDatabaseCommands } from './db-command.js';
import { registerTokenCommand } from './token-command.js';
import { registerDictionariesCommand } from './dictionaries-command.js';
import { registerRegistriesCommand } from './registries-command.js';
import { registerKeysCommand } from './keys-command.js';
import { registerMessagesCommands } from './messages-command.js';
import { registerTenantsCommand } from './tenants-command.js';
import { configureLogger } from '../logging/logger.js';

const program = new Command();
program
  .name('hl7-engine')
  .description('Operate the HL7/FHIR integration engine: tokens, dictionaries, registries, ingest, replay, keys, tenants.')
  .showHelpAfterError()
  // stdout carries only the commands' results (so they can be piped); engine log lines go to stderr, and at the
  // default level only warnings and errors (LOG_LEVEL=info or debug shows more).
  .hook('preAction', () => void configureLogger(process.env.LOG_LEVEL ?? 'warn', { write: (line: string) => void process.stderr.write(line) }));

registerTokenCommand(program);
registerDictionariesCommand(program);
registerDatabaseCommands(program);
registerRegistriesCommand(program);
registerMessagesCommands(program);
registerKeysCommand(program);
registerTenantsCommand(program);

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
