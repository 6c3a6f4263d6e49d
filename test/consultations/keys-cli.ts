/**
 * Runs the `keys` commands exactly as the engine CLI registers them (src/cli/keys-command.ts), for the rotation
 * tests: `node --import tsx test/consultations/keys-cli.ts keys rotate …` with the engine's environment.
 */
import { Command } from 'commander';
import { registerKeysCommand } from '../../src/cli/keys-command.js';

const program = new Command().name('hl7-engine');
registerKeysCommand(program);
program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
