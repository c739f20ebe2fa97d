/**
 * One contract, two backends: the storage suites run every test against SQLite and against
 * PostgreSQL through this harness. PostgreSQL comes from CPREG_TEST_PG_URL (a server where the
 * tests may create and drop databases; `.ci/run` starts one with scripts/ci/start-postgres.sh).
 * Without it the PostgreSQL half is skipped with one line saying so, except under CI=true,
 * where it fails instead: CI never skips it.
 */
import Database from 'better-sqlite3';
import * as pg from 'pg';
import { randomBytes } from 'node:crypto';
import { PG_TYPES } from '../../storage/postgres/db';
import type { EventStore } from '../../storage/event-store';
import { PostgresEventStore, type PostgresStoreOptions } from '../../storage/postgres/postgres-event-store';
import { SqliteEventStore, type SqliteStoreOptions } from '../../storage/sqlite/sqlite-event-store';
import type { SnapshotRejection, SnapshotSeal } from '../../storage/snapshot-seal';
import { freshStore } from './helpers';

export const PG_URL = process.env.CPREG_TEST_PG_URL || undefined;
const CI = process.env.CI === 'true';

export type BackendName = 'sqlite' | 'postgres';

/** What every store of either backend gives the tests besides the contract. */
export interface TestStore extends EventStore {
  readonly stats: { batches: number; commits: number; snapshotsSkipped: number };
}

export interface StoreOptions {
  maxBatch?: number;
  snapshotSeal?: SnapshotSeal;
  onSnapshotRejected?: (r: SnapshotRejection) => void;
}

export interface Harness {
  backend: BackendName;
  store: TestStore;
  /** The SQLite file (SQLite only). */
  file?: string;
  /** Another store on the same database (another connection; for PostgreSQL, another node's pool). */
  reopen(opts?: StoreOptions): Promise<TestStore>;
  /** Raw SQL behind the stores' backs, on a connection of its own; `?` placeholders. */
  sql(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Closes every store opened here and removes the database. */
  done(): Promise<void>;
}

export interface Backend {
  name: BackendName;
  available: boolean;
  /** A store on a new, empty database. */
  fresh(opts?: StoreOptions): Promise<Harness>;
}

const sqlite: Backend = {
  name: 'sqlite',
  available: true,
  async fresh(opts: StoreOptions = {}) {
    const h = freshStore(opts as Partial<SqliteStoreOptions>);
    const others: SqliteEventStore[] = [];
    let raw: Database.Database | undefined;
    return {
      backend: 'sqlite',
      store: h.store,
      file: h.file,
      reopen: async (more: StoreOptions = {}) => {
        const s = h.reopen(more as Partial<SqliteStoreOptions>);
        others.push(s);
        return s;
      },
      sql: async (text, params = []) => {
        raw ??= new Database(h.file);
        const stmt = raw.prepare(text);
        if (stmt.reader) return stmt.all(...params) as Record<string, unknown>[];
        stmt.run(...params);
        return [];
      },
      done: async () => {
        for (const s of others) await s.close().catch(() => undefined);
        raw?.close();
        await h.done();
      },
    };
  },
};

let databases = 0;

/** A new database on the test server; returns its URL and how to drop it. */
export async function createPgDatabase(
  prefix = 'cpreg_t',
): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  if (!PG_URL) throw new Error('CPREG_TEST_PG_URL is not set');
  const name = `${prefix}_${process.pid}_${++databases}_${randomBytes(3).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const u = new URL(PG_URL);
  u.pathname = `/${name}`;
  return { url: u.toString(), name, drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function adminQuery(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** `?` placeholders as PostgreSQL's $1, $2 … (the tests' SQL has no `?` inside literals). */
export const pgPlaceholders = (text: string) => {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
};

/**
 * Migrated databases handed back by finished tests, emptied, for the next test of this file
 * (creating, migrating and dropping one costs ~0.4 s); dropped when the file is done.
 */
const spare: Array<Awaited<ReturnType<typeof createPgDatabase>>> = [];
afterAll(async () => {
  for (const d of spare.splice(0)) await d.drop().catch(() => undefined);
});

const EMPTY_ALL =
  'TRUNCATE events, stream_labels, streams, snapshots, idempotency_keys; ' +
  "UPDATE event_head SET position = 0, hash = decode(repeat('00', 32), 'hex')";

const postgres: Backend = {
  name: 'postgres',
  available: PG_URL !== undefined,
  async fresh(opts: StoreOptions = {}) {
    const database = spare.pop() ?? (await createPgDatabase());
    const open = (more: StoreOptions = {}) =>
      PostgresEventStore.open({ url: database.url, ...opts, ...more } as PostgresStoreOptions);
    const stores: PostgresEventStore[] = [];
    const store = await open();
    stores.push(store);
    const raw = new pg.Pool({ connectionString: database.url, max: 1, types: PG_TYPES });
    // pool.end() resolves before its sockets are closed: a drop WITH (FORCE) may still reach one
    raw.on('error', () => undefined);
    return {
      backend: 'postgres',
      store,
      reopen: async (more: StoreOptions = {}) => {
        const s = await open(more);
        stores.push(s);
        return s;
      },
      sql: async (text, params = []) => (await raw.query(pgPlaceholders(text), params)).rows,
      done: async () => {
        for (const s of stores) await s.close().catch(() => undefined);
        try {
          await raw.query(EMPTY_ALL);
          spare.push(database);
        } catch {
          await database.drop();
        } finally {
          await raw.end().catch(() => undefined);
        }
      },
    };
  },
};

export const BACKENDS: readonly Backend[] = [sqlite, postgres];

const announced = new Set<string>();

/**
 * `describe(<backend>)` once per backend around `suite`. The PostgreSQL half without a server:
 * skipped with one line on stderr (once per file), or, with CI=true, one failing test.
 */
export function eachBackend(suite: (b: Backend) => void): void {
  for (const b of BACKENDS) {
    if (b.available) {
      describe(b.name, () => suite(b));
    } else if (CI) {
      describe(b.name, () => {
        test('needs PostgreSQL (CI never skips the PostgreSQL half)', () => {
          throw new Error('CPREG_TEST_PG_URL is not set: CI runs scripts/ci/start-postgres.sh, which sets it');
        });
      });
    } else {
      if (!announced.has(b.name)) {
        announced.add(b.name);
        process.stderr.write(
          `PostgreSQL storage tests skipped: CPREG_TEST_PG_URL is not set (eval "$(bash scripts/ci/start-postgres.sh)" starts a throwaway server)\n`,
        );
      }
      describe.skip(`${b.name} (skipped: CPREG_TEST_PG_URL is not set)`, () => suite(b));
    }
  }
}

/** For suites that only make sense with PostgreSQL (nodes, faults, the copy): the same rule. */
export function needsPostgres(title: string, suite: () => void): void {
  if (PG_URL) describe(title, suite);
  else if (CI)
    describe(title, () => {
      test('needs PostgreSQL (CI never skips the PostgreSQL tests)', () => {
        throw new Error('CPREG_TEST_PG_URL is not set: CI runs scripts/ci/start-postgres.sh, which sets it');
      });
    });
  else {
    process.stderr.write(
      `${title}: skipped, CPREG_TEST_PG_URL is not set (eval "$(bash scripts/ci/start-postgres.sh)" starts a throwaway server)\n`,
    );
    describe.skip(`${title} (skipped: CPREG_TEST_PG_URL is not set)`, suite);
  }
}
