import * as path from 'node:path';

export const DEFAULT_DB_PATH = './data/cpreg.db';

/** The database path: CPREG_DB, or ./data/cpreg.db (relative to the working directory). */
export function dbPathFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const p = env.CPREG_DB && env.CPREG_DB.trim() ? env.CPREG_DB : DEFAULT_DB_PATH;
  return path.resolve(p);
}

/** Snapshot every K events (CPREG_SNAPSHOT_EVERY, default 100). */
export function snapshotEveryFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const k = Number(env.CPREG_SNAPSHOT_EVERY ?? 100);
  return Number.isInteger(k) && k > 0 ? k : 100;
}
