/**
 * Entry point of `npm start`: validates configuration (one clear line and exit code 2 when wrong), starts the engine,
 * and stops it gracefully on SIGTERM / SIGINT. The signal handlers are installed before anything starts: a signal
 * during start-up stops the embedded database the start-up may have launched (it would otherwise outlive the
 * process), a second signal exits at once (the embedded database is killed on exit).
 */
import { ConfigError, loadConfig } from './platform/config/config.js';
import { stopStartedServers } from './platform/devdb/devdb.js';
import { startEngine, type RunningEngine } from './app/engine.js';
import { configureLogger, rootLogger } from './platform/logging/logger.js';

let engine: RunningEngine | undefined;
let stopping = false;

function onSignal(signal: string): void {
  const logger = rootLogger();
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal, started: engine !== undefined }, 'signal received');
  (engine ? engine.stop() : stopStartedServers()).then(
    () => process.exit(0),
    (err) => {
      logger.error({ err: { message: (err as Error).message } }, 'error during shutdown');
      process.exit(1);
    },
  );
}

async function main(): Promise<void> {
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = configureLogger(config.logLevel);
  try {
    const started = await startEngine(config);
    if (stopping) {
      // The signal came while starting: what started is stopped here (the handler only had the database to stop).
      await started.stop();
      return;
    }
    engine = started;
  } catch (err) {
    if (stopping) return; // start-up failed because the signal stopped its database: the handler exits
    logger.fatal({ err: { message: (err as Error).message } }, 'start-up failed');
    process.stderr.write(`Start-up failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

void main();
