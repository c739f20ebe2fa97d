import * as pg from 'pg';
import { DatabaseUnavailableError, isUnavailable, mapPgError } from './errors';

export interface PgDbOptions {
  /** postgres://user:password@host:port/database (node-postgres's connection string). */
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** How long to wait for a connection before failing with 503 (default 5000 ms). */
  connectTimeoutMs?: number;
  /** How long an append waits for the head lock another node holds before 503 (default 10000 ms). */
  lockTimeoutMs?: number;
  /** Called with errors of idle pooled connections (the server went away); they are dropped. */
  onIdleError?: (e: Error) => void;
}

const INT8_OID = 20;
/** bigint columns (positions, versions) as numbers: every value here is far below 2^53. */
export const PG_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary'
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/** A query's rows as arrays, in column order. */
export type Row = unknown[];

/**
 * The pool of one store. Every connection is set up once before first use: synchronous_commit
 * on (a COMMIT returns only once its WAL is flushed, whatever the server's default), a bound on
 * lock waits and on a transaction left idle by a frozen client. Connections that fail are
 * dropped, so the pool heals by itself once the server is back.
 */
export class PgDb {
  readonly pool: pg.Pool;
  private readonly ready = new WeakSet<pg.PoolClient>();
  private readonly session: string;

  constructor(readonly opts: PgDbOptions) {
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      types: PG_TYPES,
      application_name: 'cpreg-ledger',
    });
    // An idle connection the server closed (shutdown, restart) is removed by the pool; without
    // a listener the 'error' would crash the process.
    this.pool.on('error', (e) => opts.onIdleError?.(e));
    this.session =
      'SET synchronous_commit = on; ' +
      `SET lock_timeout = ${Math.floor(opts.lockTimeoutMs ?? 10_000)}; ` +
      'SET idle_in_transaction_session_timeout = 60000';
  }

  /** A set-up connection; the caller must release it (with the error if it failed). */
  async acquire(): Promise<pg.PoolClient> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw new DatabaseUnavailableError(e);
    }
    if (!this.ready.has(c)) {
      // A connection the server drops while it is checked out (between two queries of a
      // transaction) emits 'error' with no pool listener: without one the process would die.
      // The failure reaches the next query anyway ("not queryable"), which releases it as lost.
      c.on('error', () => undefined);
      try {
        await c.query(this.session);
      } catch (e) {
        c.release(e instanceof Error ? e : true);
        throw mapPgError(e);
      }
      this.ready.add(c);
    }
    return c;
  }

  /**
   * Runs `fn` on one connection. A connection that failed is destroyed, not returned to the
   * pool. `retry`: a call that only reads is tried once more on a fresh connection when the
   * first failed to reach the server (a pooled connection the server had already closed).
   */
  async with<T>(fn: (c: pg.PoolClient) => Promise<T>, retry = true): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const c = await this.acquire().catch((e: unknown) => {
        if (retry && attempt === 0) return undefined;
        throw e;
      });
      if (!c) continue;
      try {
        const r = await fn(c);
        c.release();
        return r;
      } catch (e) {
        const lost = isUnavailable(e);
        c.release(lost ? (e instanceof Error ? e : true) : undefined);
        if (lost && retry && attempt === 0) continue;
        throw mapPgError(e);
      }
    }
  }

  /** One read-only statement, rows as arrays; `name`: prepared once per connection (hot reads). */
  rows(text: string, values: unknown[] = [], name?: string): Promise<Row[]> {
    return this.with(
      async (c) => (await c.query({ text, values, rowMode: 'array', ...(name ? { name } : {}) })).rows as Row[],
    );
  }

  /** One statement, rows as objects. */
  async objects<T extends pg.QueryResultRow>(text: string, values: unknown[] = [], retry = true): Promise<T[]> {
    return this.with(async (c) => (await c.query<T>(text, values)).rows, retry);
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}
