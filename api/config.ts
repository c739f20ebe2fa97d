import { dbPathFromEnv, snapshotEveryFromEnv } from '../storage/config';

/** Everything the service reads from its environment, in one place. */
export interface Config {
  host: string;
  port: number;
  dbPath: string;
  tokensFile?: string;
  snapshotEvery: number;
  logLevel: string;
  /** How long a shutdown waits for in-flight requests before cutting them. */
  shutdownGraceMs: number;
  /** Longest time to receive one request (a multi-GB stream upload included). */
  requestTimeoutMs: number;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be 0..65535, got ${env.PORT}`);
  return {
    host: env.HOST || '127.0.0.1',
    port,
    dbPath: dbPathFromEnv(env),
    tokensFile: env.CPREG_TOKENS_FILE || undefined,
    snapshotEvery: snapshotEveryFromEnv(env),
    logLevel: env.LOG_LEVEL || 'info',
    shutdownGraceMs: Number(env.CPREG_SHUTDOWN_GRACE_MS ?? 10_000),
    requestTimeoutMs: Number(env.CPREG_REQUEST_TIMEOUT_MS ?? 6 * 3600_000),
  };
}
