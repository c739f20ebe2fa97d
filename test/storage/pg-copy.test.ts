/**
 * `cpreg store copy --from sqlite:PATH --to postgres://…`: every event, snapshot and
 * idempotency key with positions and hashes intact; the copy verifies, reads as the source did,
 * and goes on from where the source stopped. A source that does not verify and a target that is
 * not empty are refused.
 */
import * as path from 'node:path';
import { main } from '../../cli/cpreg';
import { copySqliteToPostgres } from '../../storage/postgres/copy';
import { PostgresEventStore } from '../../storage/postgres/postgres-event-store';
import { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';
import type { EventStore } from '../../storage/event-store';
import { createPgDatabase, needsPostgres } from './backends';
import { ev, meta, tempDir } from './helpers';

async function seed(store: SqliteEventStore): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await store.append({
      streamId: `cpu-${i % 5}`,
      expectedVersion: 'any',
      events: i % 7 === 3 ? [ev(i), ev(i + 100)] : [ev(i)],
      metadata: { ...meta, requestId: `r${i}` },
      ...(i < 5 ? { labels: { vm: i < 3 ? 'web' : 'db', 'cpu-index': String(i) } } : {}),
      ...(i % 4 === 0 ? { idempotency: { key: `key-${i}`, requestHash: `h${i}`, resultText: `{"i":${i}}` } } : {}),
    });
  }
  await store.appendGroup({
    appends: [
      {
        streamId: 'profile-a',
        expectedVersion: 'no-stream',
        events: [ev(1)],
        kind: 'host-profile',
        labels: { q: '10' },
      },
      { streamId: 'cpu-0', expectedVersion: 'any', events: [ev(2)] },
    ],
    metadata: meta,
    idempotency: { key: 'group', requestHash: 'g', resultText: '{"group":true}' },
  });
  for (const v of [2, 5]) await store.putSnapshot({ streamId: 'cpu-1', version: v, schemaVersion: 1, data: { v } });
  await store.putSnapshot({ streamId: 'cpu-0', version: 3, schemaVersion: 2, data: { zero: [1, 2, 3] } });
}

/** Everything a reader of the store can see, for comparing two stores. */
async function everything(store: EventStore) {
  const feed = (await store.readAll(0, 10_000)).events;
  const streams = [
    ...(await store.listStreams({ limit: 1000 })).streams,
    ...(await store.listStreams({ limit: 1000, kind: 'host-profile' })).streams,
  ];
  const snapshots = [];
  const keys = [];
  for (const s of streams) snapshots.push(await store.getSnapshots(s.streamId, s.version, 100));
  for (const k of ['key-0', 'key-4', 'key-36', 'group', 'nope']) keys.push(await store.findIdempotency(k));
  const labelled = (await store.listStreams({ labels: { vm: 'web' } })).streams.map((s) => s.streamId);
  const raw = await store.readFeedRaw(0, 10_000, 1 << 30);
  return { feed, streams, snapshots, keys, labelled, raw: raw.events, verify: await store.verify() };
}

needsPostgres('cpreg store copy: SQLite → PostgreSQL', () => {
  let t: ReturnType<typeof tempDir>;
  let db: Awaited<ReturnType<typeof createPgDatabase>>;
  beforeEach(async () => {
    t = tempDir('cpreg-copy-');
    db = await createPgDatabase('cpreg_copy');
  });
  afterEach(async () => {
    await db.drop();
    t.cleanup();
  });

  test('every event, snapshot and key, positions and hashes intact; the copy verifies and goes on', async () => {
    const file = path.join(t.dir, 'src.db');
    const src = new SqliteEventStore({ file });
    await seed(src);
    const before = await everything(src);
    await src.close();
    expect(before.verify.ok).toBe(true);

    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
    let code: number;
    try {
      code = await main(['store', 'copy', '--from', `sqlite:${file}`, '--to', db.url]);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(0);
    expect(out.join('')).toMatch(
      new RegExp(
        `^copied ${before.feed.length} events \\(positions 1..${before.feed.length}\\), 6 streams, 3 snapshots, 11 idempotency keys .*verify ok, head ${before.verify.headHash}\\n$`,
      ),
    );

    const copy = await PostgresEventStore.open({ url: db.url });
    try {
      const after = await everything(copy);
      expect(after).toEqual(before);
      // it goes on from the source's head: the next position, chained to the copied hash
      const next = await copy.append({ streamId: 'cpu-3', expectedVersion: 'any', events: [ev(999)], metadata: meta });
      expect(next.events[0]?.position).toBe(before.feed.length + 1);
      expect(next.version).toBe((before.streams.find((s) => s.streamId === 'cpu-3')?.version ?? 0) + 1);
      expect(await copy.verify()).toMatchObject({ ok: true, events: before.feed.length + 1 });
      // a repeat of a copied key replays the source's answer
      const again = await copy.append({
        streamId: 'cpu-0',
        expectedVersion: 'any',
        events: [ev(0)],
        metadata: meta,
        idempotency: { key: 'key-0', requestHash: 'h0' },
      });
      expect(again).toMatchObject({ replayed: true, record: { resultText: '{"i":0}', firstPosition: 1 } });
    } finally {
      await copy.close();
    }
  });

  test('a target that is not empty is refused and left as it was', async () => {
    const file = path.join(t.dir, 'src.db');
    const src = new SqliteEventStore({ file });
    await seed(src);
    await src.close();
    const other = await PostgresEventStore.open({ url: db.url });
    await other.append({ streamId: 'mine', expectedVersion: 'no-stream', events: [ev(1)], metadata: meta });
    try {
      await expect(copySqliteToPostgres(file, db.url)).rejects.toThrow(/the target database is not empty/);
      expect((await other.readAll(0, 100)).events.map((e) => e.streamId)).toEqual(['mine']);
      expect(await other.verify()).toMatchObject({ ok: true, events: 1 });
    } finally {
      await other.close();
    }
  });

  test('a source that does not verify is refused, and nothing is copied', async () => {
    const file = path.join(t.dir, 'src.db');
    const src = new SqliteEventStore({ file });
    await seed(src);
    src.db.prepare('UPDATE events SET data = \'{"n":666}\' WHERE position = 17').run();
    await src.close();
    await expect(copySqliteToPostgres(file, db.url)).rejects.toThrow(
      /does not verify: hash of event 17 does not match its bytes/,
    );
    const target = await PostgresEventStore.open({ url: db.url });
    try {
      expect(await target.verify()).toMatchObject({ ok: true, events: 0 });
      expect((await target.listStreams()).streams).toEqual([]);
    } finally {
      await target.close();
    }
    // usage errors: exit 2
    expect(await main(['store', 'copy', '--from', file, '--to', db.url])).toBe(2);
  });
});
