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
  CPREG_TOKENS_FILE: z.string(),
  CPREG_SNAPSHOT_EVERY: int(1, 1_000_000, 'a whole number of events from 1 to 1000000'),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }),
  CPREG_SHUTDOWN_GRACE_MS: int(0, 24 * 3600_000, 'milliseconds from 0 to 86400000'),
  CPREG_REQUEST_TIMEOUT_MS: int(1000, 7 * 24 * 3600_000, 'milliseconds from 1000 to 604800000'),
  CPREG_STREAM_LIMIT: int(1, Number.MAX_SAFE_INTEGER, 'a positive number of bytes'),
  CPREG_REWRITE_HOLDBACK: int(0, 1024 ** 3, 'a number of bytes from 0 to 1073741824'),
  CPREG_MIGRATIONS_DIR: z.string(),
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
  return {
    host: read(env, 'HOST') ?? DEFAULTS.host,
    port: read(env, 'PORT') ?? DEFAULTS.port,
    dbPath: path.resolve(read(env, 'CPREG_DB') ?? DEFAULTS.dbPath),
    ...(tokensFile === undefined ? {} : { tokensFile }),
    snapshotEvery: read(env, 'CPREG_SNAPSHOT_EVERY') ?? DEFAULTS.snapshotEvery,
    logLevel: read(env, 'LOG_LEVEL') ?? DEFAULTS.logLevel,
    shutdownGraceMs: read(env, 'CPREG_SHUTDOWN_GRACE_MS') ?? DEFAULTS.shutdownGraceMs,
    requestTimeoutMs: read(env, 'CPREG_REQUEST_TIMEOUT_MS') ?? DEFAULTS.requestTimeoutMs,
    streamLimit: read(env, 'CPREG_STREAM_LIMIT') ?? DEFAULTS.streamLimit,
    rewriteHoldBack: read(env, 'CPREG_REWRITE_HOLDBACK') ?? DEFAULTS.rewriteHoldBack,
    ...(migrationsDir === undefined ? {} : { migrationsDir }),
  };
}
