import * as path from 'node:path';
import { SchemaVersionError } from '../../storage/event-store';
import { loadMigrations, migrate } from '../../storage/sqlite/migrate';
import { openDatabase } from '../../storage/sqlite/open';
import { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';
import { ev, meta, tempDir } from './helpers';

const all = loadMigrations();

describe('migrations', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  test('the migrations are numbered 1..n and a fresh database gets all of them, recorded, in WAL, commits synced off the event loop', async () => {
    expect(all.map((m) => m.version)).toEqual(all.map((_, i) => i + 1));
    const file = path.join(t.dir, 'nested', 'dir', 'cpreg.db');
    const store = new SqliteEventStore({ file });
    expect(store.schemaVersion).toBe(all.length);
    const rows = store.db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
    expect(rows).toEqual(all.map((m) => ({ version: m.version, name: m.name })));
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    // NORMAL: COMMIT does not fsync; the store syncs the WAL itself before answering (wal-sync.ts)
    expect(store.db.pragma('synchronous', { simple: true })).toBe(1);
    const before = store.stats.walSyncs;
    await store.append({
      streamId: 's',
      expectedVersion: 'any',
      events: [{ type: 'T', schemaVersion: 1, data: {} }],
      metadata: { actor: 't' },
    });
    expect(store.stats.walSyncs).toBe(before + 1); // answered only after its WAL sync
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(store.db.pragma('user_version', { simple: true })).toBe(all.length);
    await store.close();
    // opening again applies nothing
    const again = new SqliteEventStore({ file });
    expect(again.schemaVersion).toBe(all.length);
    await again.close();
  });

  test('a database written by an older version upgrades itself and keeps its events', async () => {
    const file = path.join(t.dir, 'old.db');
    // what the first release left behind: schema 1 and a stream with an event
    const old = openDatabase(file);
    expect(migrate(old, all.slice(0, 1))).toBe(1);
    old.prepare("INSERT INTO streams (stream_id, version, created_at, updated_at) VALUES ('s', 1, 'x', 'x')").run();
    old
      .prepare(
        "INSERT INTO events (stream_id, version, type, schema_version, data, metadata, hash) VALUES ('s', 1, 'T', 1, '{}', '{}', zeroblob(32))",
      )
      .run();
    expect(old.prepare("SELECT name FROM sqlite_master WHERE name IN ('snapshots', 'idempotency_keys')").all()).toEqual(
      [],
    );
    old.close();

    const upgraded = new SqliteEventStore({ file });
    expect(upgraded.schemaVersion).toBe(all.length);
    expect(upgraded.db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual(
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
    const file = path.join(t.dir, 'new.db');
    const store = new SqliteEventStore({ file });
    store.db
      .prepare(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, 'from_the_future', '-', 'x')",
      )
      .run(all.length + 2);
    await store.close();
    const open = () => new SqliteEventStore({ file });
    expect(open).toThrow(SchemaVersionError);
    expect(open).toThrow(
      `database schema version ${all.length + 2} is newer than this cpreg-ledger supports (${all.length}); upgrade the service`,
    );
  });

  test('an applied migration whose file changed is refused', async () => {
    const file = path.join(t.dir, 'edited.db');
    await new SqliteEventStore({ file }).close();
    const edited = all.map((m, i) => (i === 1 ? { ...m, sql: m.sql + '\n-- edited\n' } : m));
    expect(() => new SqliteEventStore({ file, migrations: edited })).toThrow(
      /002_snapshots.sql changed after it was applied/,
    );
  });

  test('two stores opening one new database at once both end at the same schema', async () => {
    const file = path.join(t.dir, 'race.db');
    const a = new SqliteEventStore({ file });
    const b = new SqliteEventStore({ file });
    expect([a.schemaVersion, b.schemaVersion]).toEqual([all.length, all.length]);
    await a.close();
    await b.close();
  });
});
