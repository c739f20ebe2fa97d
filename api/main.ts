import { configFromEnv } from './config';
import { createLogger } from './logging';
import { startServer } from './server';

/** `npm start`: serve on HOST:PORT with the database at CPREG_DB; SIGTERM/SIGINT stop gracefully. */
async function main(): Promise<void> {
  const config = configFromEnv();
  const logger = createLogger(config.logLevel);
  const running = await startServer(config, logger);
  logger.flush(); // the "listening" line now, not when the first 4 KiB of logs are buffered
  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    running.close().then(
      () => process.exit(0),
      (e) => {
        logger.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((e) => {
  process.stderr.write(`cpreg-ledger: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
