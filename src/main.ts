/**
 * Entry point of `npm start`: validates configuration (one clear line and exit code 2 when wrong), starts the engine,
 * and stops it gracefully on SIGTERM / SIGINT.
 */
import { ConfigError, loadConfig } from './config/config.js';
import { startEngine } from './engine/engine.js';
import { configureLogger } from './logging/logger.js';

async function main(): Promise<void> {
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
  let engine;
  try {
    engine = await startEngine(config);
  } catch (err) {
    logger.fatal({ err: { message: (err as Error).message } }, 'start-up failed');
    process.stderr.write(`Start-up failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const onSignal = (signal: string) => {
    logger.info({ signal }, 'signal received');
    engine.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err: { message: (err as Error).message } }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}

void main();
