import * as path from 'node:path';
import * as pg from 'pg';
import { SchemaVersionError, type EventStore } from '../../storage/event-store';
import { PG_TYPES } from '../../storage/postgres/db';
import { loadPgMigrations, migratePg } from '../../storage/postgres/migrate';
import { PostgresEventStore } from '../../storage/postgres/postgres-event-store';
import { loadMigrations, migrate, type Migration } from '../../storage/sqlite/migrate';
import { openDatabase } from '../../storage/sqlite/open';
import { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';
import { createPgDatabase, eachBackend, pgPlaceholders, type BackendName } from './backends';
import { ev, meta, tempDir } from './helpers';

type Opened = EventStore & { schemaVersion: number };

/** One empty database of a backend, and what the migration tests do to it. */
interface Target {
  /** Opens the store (applying migrations); rejects when the database is refused. */
  open(migrations?: readonly Migration[]): Promise<Opened>;
  /** Applies migrations without a store, as an older release did. */
  migrateOnly(migrations: readonly Migration[]): Promise<number>;
  /** Raw SQL on a connection of its own; `?` placeholders. */
  sql(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Which of these tables exist. */
  tables(names: string[]): Promise<string[]>;
  /** The durability settings a store runs with, checked. */
  checkDurable(store: Opened): Promise<void>;
  cleanup(): Promise<void>;
}

interface Kit {
  all: Migration[];
  target(): Promise<Target>;
}

function sqliteKit(): Kit {
  const all = loadMigrations();
  return {
    all,
    async target() {
      const t = tempDir();
      const file = path.join(t.dir, 'nested', 'dir', 'cpreg.db');
      const opened: SqliteEventStore[] = [];
      return {
        open: async (migrations) => {
          const s = new SqliteEventStore({ file, ...(migrations ? { migrations } : {}) });
          opened.push(s);
          return s;
        },
        migrateOnly: async (migrations) => {
          const db = openDatabase(file);
          try {
            return migrate(db, migrations);
          } finally {
            db.close();
          }
        },
        sql: async (text, params = []) => {
          const db = openDatabase(file);
          try {
            const stmt = db.prepare(text);
            if (stmt.reader) return stmt.all(...params) as Record<string, unknown>[];
            stmt.run(...params);
            return [];
          } finally {
            db.close();
          }
        },
        tables: async (names) => {
          const db = openDatabase(file);
          try {
            const rows = db
              .prepare(
                `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${names.map(() => '?').join(',')})`,
              )
              .pluck()
              .all(...names) as string[];
            return rows;
          } finally {
            db.close();
          }
        },
        checkDurable: async (opened) => {
          const store = opened as SqliteEventStore;
          expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
          // NORMAL: COMMIT does not fsync; the store syncs the WAL itself before answering (wal-sync.ts)
          expect(store.db.pragma('synchronous', { simple: true })).toBe(1);
          const before = store.stats.walSyncs;
          await store.append({
            streamId: 'durable',
            expectedVersion: 'any',
            events: [{ type: 'T', schemaVersion: 1, data: {} }],
            metadata: { actor: 't' },
          });
          expect(store.stats.walSyncs).toBe(before + 1); // answered only after its WAL sync
          expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
          expect(store.db.pragma('user_version', { simple: true })).toBe(all.length);
        },
        cleanup: async () => {
          for (const s of opened) await s.close().catch(() => undefined);
          t.cleanup();
        },
      };
    },
  };
}

function postgresKit(): Kit {
  const all = loadPgMigrations();
  return {
    all,
    async target() {
      const database = await createPgDatabase('cpreg_mig');
      const raw = new pg.Pool({ connectionString: database.url, max: 2, types: PG_TYPES });
      raw.on('error', () => undefined); // end() resolves before the sockets close; the drop may reach one
      const opened: PostgresEventStore[] = [];
      return {
        open: async (migrations) => {
          const s = await PostgresEventStore.open({
            url: database.url,
            startTimeoutMs: 0,
            ...(migrations ? { migrations } : {}),
          });
          opened.push(s);
          return s;
        },
        migrateOnly: async (migrations) => {
          const c = await raw.connect();
          try {
            return await migratePg(c, migrations);
          } finally {
            c.release(true); // its lock_timeout was changed: not for reuse
          }
        },
        sql: async (text, params = []) => (await raw.query(pgPlaceholders(text), params)).rows,
        tables: async (names) =>
          (
            await raw.query<{ table_name: string }>(
              'SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ANY($1)',
              [names],
            )
          ).rows.map((r) => r.table_name),
        checkDurable: async (opened) => {
          const store = opened as PostgresEventStore;
          // every connection of the store commits with synchronous_commit on, on a server with fsync
          const [s] = await store.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
          expect(s?.synchronous_commit).toBe('on');
          const [f] = await store.query<{ fsync: string }>('SHOW fsync');
          expect(f?.fsync).toBe('on');
          const appended = await store.append({
            streamId: 'durable',
            expectedVersion: 'any',
            events: [{ type: 'T', schemaVersion: 1, data: {} }],
            metadata: { actor: 't' },
          });
          expect(appended.version).toBe(1);
          expect(await store.query('SELECT position FROM event_head')).toEqual([{ position: 1 }]);
        },
        cleanup: async () => {
          for (const s of opened) await s.close().catch(() => undefined);
          await raw.end().catch(() => undefined);
          await database.drop();
        },
      };
    },
  };
}

const KITS: Record<BackendName, () => Kit> = { sqlite: sqliteKit, postgres: postgresKit };

eachBackend((b) =>
  describe(`${b.name}: migrations`, () => {
    const kit = KITS[b.name]();
    const all = kit.all;
    let t: Target;
    beforeEach(async () => (t = await kit.target()));
    afterEach(() => t.cleanup());

    test('the migrations are numbered 1..n and a fresh database gets all of them, recorded, durable commits', async () => {
      expect(all.map((m) => m.version)).toEqual(all.map((_, i) => i + 1));
      // the same schema versions on both backends (a copy between them keeps its meaning)
      expect(all.map((m) => m.name)).toEqual(loadMigrations().map((m) => m.name));
      const store = await t.open();
      expect(store.schemaVersion).toBe(all.length);
      const rows = await t.sql('SELECT version, name FROM schema_migrations ORDER BY version');
      expect(rows).toEqual(all.map((m) => ({ version: m.version, name: m.name })));
      await t.checkDurable(store);
      await store.close();
      // opening again applies nothing
      const again = await t.open();
      expect(again.schemaVersion).toBe(all.length);
      expect(await t.sql('SELECT version FROM schema_migrations ORDER BY version')).toHaveLength(all.length);
      await again.close();
    });

    test('a database written by an older version upgrades itself and keeps its events', async () => {
      // what the first release left behind: schema 1 and a stream with an event
      expect(await t.migrateOnly(all.slice(0, 1))).toBe(1);
      await t.sql("INSERT INTO streams (stream_id, version, created_at, updated_at) VALUES ('s', 1, 'x', 'x')");
      await t.sql(
        "INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) VALUES (1, 's', 1, 'T', 1, '{}', '{}', ?)",
        [Buffer.alloc(32)],
      );
      if (b.name === 'postgres') await t.sql('UPDATE event_head SET position = 1, hash = ?', [Buffer.alloc(32)]);
      expect(await t.tables(['snapshots', 'idempotency_keys'])).toEqual([]);

      const upgraded = await t.open();
      expect(upgraded.schemaVersion).toBe(all.length);
      expect((await t.sql('SELECT version FROM schema_migrations ORDER BY version')).map((r) => r.version)).toEqual(
        all.map((m) => m.version),
      );
      expect((await upgraded.readStream('s')).map((e) => e.type)).toEqual(['T']);
      await upgraded.append({
        streamId: 'n',
        expectedVersion: 'no-stream',
        events: [ev(1)],
        metadata: meta,
        idempotency: { key: 'k', requestHash: 'h' },
      });
      expect(await upgraded.findIdempotency('k')).toBeDefined();
      await upgraded.close();
    });

    test('a database from a newer version is refused with a clear message and left untouched', async () => {
      const store = await t.open();
      await t.sql(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, 'from_the_future', '-', 'x')",
        [all.length + 2],
      );
      await store.close();
      await expect(t.open()).rejects.toThrow(SchemaVersionError);
      await expect(t.open()).rejects.toThrow(
        `database schema version ${all.length + 2} is newer than this cpreg-ledger supports (${all.length}); upgrade the service`,
      );
      expect(await t.sql('SELECT version FROM schema_migrations ORDER BY version')).toHaveLength(all.length + 1);
    });

    test('an applied migration whose file changed is refused', async () => {
      await (await t.open()).close();
      const edited = all.map((m, i) => (i === 1 ? { ...m, sql: m.sql + '\n-- edited\n' } : m));
      await expect(t.open(edited)).rejects.toThrow(/002_snapshots.sql changed after it was applied/);
    });

    test('two stores opening one new database at once both end at the same schema', async () => {
      const [a, c] = await Promise.all([t.open(), t.open()]);
      expect([a.schemaVersion, c.schemaVersion]).toEqual([all.length, all.length]);
      expect(await t.sql('SELECT version FROM schema_migrations ORDER BY version')).toHaveLength(all.length);
      await a.close();
      await c.close();
    });
  }),
);
