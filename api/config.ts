import * as path from 'node:path';
import { z } from 'zod';

/**
 * Everything the service reads from its environment, parsed in this one place. A bad value
 * refuses to start with one line naming the variable; an empty variable counts as unset.
 */
export interface Config {
  host: string;
  port: number;
  dbPath: string;
  /** postgres://…: the store is PostgreSQL (several nodes may share it); otherwise SQLite at dbPath. */
  databaseUrl?: string;
  tokensFile?: string;
  snapshotEvery: number;
  logLevel: LogLevel;
  /** How long a shutdown waits for in-flight requests before cutting them. */
  shutdownGraceMs: number;
  /** Longest time to receive one request (a multi-GB stream upload included). */
  requestTimeoutMs: number;
  /** Largest QEMU migration stream accepted, in bytes. */
  streamLimit: number;
  /** A stream rewrite holds this much output back before answering, in bytes. */
  rewriteHoldBack: number;
  /** Where the SQL migrations are (default: found beside the code). */
  migrationsDir?: string;
  /** Ed25519 private key (PEM) that signs checkpoints (docs/audit.md); none: no checkpoints. */
  signingKeyFile?: string;
  /** A signed checkpoint every N events … */
  checkpointEvery: number;
  /** … or every T seconds with new events (also the period of the audit self-check). */
  checkpointSeconds: number;
  limits: Limits;
}

/** Bounds that keep a hostile or broken client from holding the service's resources. */
export interface Limits {
  /** A JSON or blob body must have arrived this long after the request started. */
  bodyTimeoutMs: number;
  /** A stream upload delivering fewer bytes per second than this, over a window, is cut (408). */
  streamMinRate: number;
  streamRateWindowMs: number;
  /** Stream uploads (inspect, import, rewrite, convert) served at once; 503 beyond. */
  maxStreamUploads: number;
  /** SSE subscribers at once; 503 beyond. */
  maxSseClients: number;
  /** A subscriber that does not read is dropped after this long paused. */
  sseStallMs: number;
  /** Open connections; beyond it a new connection gets a 503 and is closed. */
  maxConnections: number;
  /** How long a write waits for a database lock held by another process (then 503). */
  dbBusyTimeoutMs: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  dbPath: './data/cpreg.db',
  snapshotEvery: 100,
  logLevel: 'info' as LogLevel,
  shutdownGraceMs: 10_000,
  requestTimeoutMs: 6 * 3600_000,
  streamLimit: 16 * 1024 ** 3,
  rewriteHoldBack: 8 * 1024 * 1024,
  checkpointEvery: 1000,
  checkpointSeconds: 60,
  limits: {
    bodyTimeoutMs: 10_000,
    streamMinRate: 32 * 1024,
    streamRateWindowMs: 30_000,
    maxStreamUploads: 4,
    maxSseClients: 256,
    sseStallMs: 30_000,
    maxConnections: 1024,
    dbBusyTimeoutMs: 100,
  } satisfies Limits,
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const int = (min: number, max: number, what: string) =>
  z
    .string()
    .regex(/^\d{1,16}$/, `must be ${what}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be ${what}`);

const SCHEMA = {
  HOST: z.string().regex(/^[\w.:[\]-]{1,255}$/, 'must be a host name or address'),
  PORT: int(0, 65535, 'a port from 0 to 65535'),
  CPREG_DB: z.string(),
  CPREG_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// (or postgresql://) URL'),
  CPREG_TOKENS_FILE: z.string(),
  CPREG_SNAPSHOT_EVERY: int(1, 1_000_000, 'a whole number of events from 1 to 1000000'),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }),
  CPREG_SHUTDOWN_GRACE_MS: int(0, 24 * 3600_000, 'milliseconds from 0 to 86400000'),
  CPREG_REQUEST_TIMEOUT_MS: int(1000, 7 * 24 * 3600_000, 'milliseconds from 1000 to 604800000'),
  CPREG_STREAM_LIMIT: int(1, Number.MAX_SAFE_INTEGER, 'a positive number of bytes'),
  CPREG_REWRITE_HOLDBACK: int(0, 1024 ** 3, 'a number of bytes from 0 to 1073741824'),
  CPREG_MIGRATIONS_DIR: z.string(),
  CPREG_BODY_TIMEOUT_MS: int(100, 3600_000, 'milliseconds from 100 to 3600000'),
  CPREG_STREAM_MIN_RATE: int(0, 1024 ** 3, 'bytes per second from 0 to 1073741824'),
  CPREG_STREAM_RATE_WINDOW_MS: int(100, 3600_000, 'milliseconds from 100 to 3600000'),
  CPREG_MAX_STREAM_UPLOADS: int(1, 1000, 'a count from 1 to 1000'),
  CPREG_MAX_SSE_CLIENTS: int(0, 100_000, 'a count from 0 to 100000'),
  CPREG_SSE_STALL_MS: int(100, 3600_000, 'milliseconds from 100 to 3600000'),
  CPREG_MAX_CONNECTIONS: int(1, 1_000_000, 'a count from 1 to 1000000'),
  CPREG_DB_BUSY_TIMEOUT_MS: int(0, 60_000, 'milliseconds from 0 to 60000'),
  CPREG_SIGNING_KEY_FILE: z.string(),
  CPREG_CHECKPOINT_EVERY: int(1, 100_000_000, 'a whole number of events from 1 to 100000000'),
  CPREG_CHECKPOINT_SECONDS: int(1, 7 * 24 * 3600, 'seconds from 1 to 604800'),
} as const;

type Name = keyof typeof SCHEMA;

/** The variables the service reads (the README's table lists each). */
export const VARIABLES = Object.keys(SCHEMA) as Name[];

function read<N extends Name>(env: NodeJS.ProcessEnv, name: N): z.output<(typeof SCHEMA)[N]> | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const r = SCHEMA[name].safeParse(raw);
  if (!r.success) {
    const why = r.error.issues[0]?.message ?? 'is not valid';
    throw new ConfigError(`${name} ${why}, got ${JSON.stringify(raw.slice(0, 80))}`);
  }
  return r.data as z.output<(typeof SCHEMA)[N]>;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  const tokensFile = read(env, 'CPREG_TOKENS_FILE');
  const migrationsDir = read(env, 'CPREG_MIGRATIONS_DIR');
  const databaseUrl = read(env, 'CPREG_DATABASE_URL');
  const signingKeyFile = read(env, 'CPREG_SIGNING_KEY_FILE');
  return {
    host: read(env, 'HOST') ?? DEFAULTS.host,
    port: read(env, 'PORT') ?? DEFAULTS.port,
    dbPath: path.resolve(read(env, 'CPREG_DB') ?? DEFAULTS.dbPath),
    ...(databaseUrl === undefined ? {} : { databaseUrl }),
    ...(tokensFile === undefined ? {} : { tokensFile }),
    snapshotEvery: read(env, 'CPREG_SNAPSHOT_EVERY') ?? DEFAULTS.snapshotEvery,
    logLevel: read(env, 'LOG_LEVEL') ?? DEFAULTS.logLevel,
    shutdownGraceMs: read(env, 'CPREG_SHUTDOWN_GRACE_MS') ?? DEFAULTS.shutdownGraceMs,
    requestTimeoutMs: read(env, 'CPREG_REQUEST_TIMEOUT_MS') ?? DEFAULTS.requestTimeoutMs,
    streamLimit: read(env, 'CPREG_STREAM_LIMIT') ?? DEFAULTS.streamLimit,
    rewriteHoldBack: read(env, 'CPREG_REWRITE_HOLDBACK') ?? DEFAULTS.rewriteHoldBack,
    ...(migrationsDir === undefined ? {} : { migrationsDir }),
    ...(signingKeyFile === undefined ? {} : { signingKeyFile: path.resolve(signingKeyFile) }),
    checkpointEvery: read(env, 'CPREG_CHECKPOINT_EVERY') ?? DEFAULTS.checkpointEvery,
    checkpointSeconds: read(env, 'CPREG_CHECKPOINT_SECONDS') ?? DEFAULTS.checkpointSeconds,
    limits: {
      bodyTimeoutMs: read(env, 'CPREG_BODY_TIMEOUT_MS') ?? DEFAULTS.limits.bodyTimeoutMs,
      streamMinRate: read(env, 'CPREG_STREAM_MIN_RATE') ?? DEFAULTS.limits.streamMinRate,
      streamRateWindowMs: read(env, 'CPREG_STREAM_RATE_WINDOW_MS') ?? DEFAULTS.limits.streamRateWindowMs,
      maxStreamUploads: read(env, 'CPREG_MAX_STREAM_UPLOADS') ?? DEFAULTS.limits.maxStreamUploads,
      maxSseClients: read(env, 'CPREG_MAX_SSE_CLIENTS') ?? DEFAULTS.limits.maxSseClients,
      sseStallMs: read(env, 'CPREG_SSE_STALL_MS') ?? DEFAULTS.limits.sseStallMs,
      maxConnections: read(env, 'CPREG_MAX_CONNECTIONS') ?? DEFAULTS.limits.maxConnections,
      dbBusyTimeoutMs: read(env, 'CPREG_DB_BUSY_TIMEOUT_MS') ?? DEFAULTS.limits.dbBusyTimeoutMs,
    },
  };
}
