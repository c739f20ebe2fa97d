import * as fs from 'node:fs';
import type { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';
import { freshStore, meta } from './helpers';

/** An event of ~12 KB (a 300-value sync's size): a few of them fill a small WAL step. */
const big = (n: number) => ({
  type: 'Synced',
  schemaVersion: 1,
  data: { n, values: Array.from({ length: 300 }, (_, i) => `0x${(n * 1000 + i).toString(16).padStart(16, '0')}`) },
});

async function appendMany(store: SqliteEventStore, streams: number, perStream: number): Promise<void> {
  await Promise.all(
    Array.from({ length: streams }, async (_, s) => {
      for (let k = 0; k < perStream; k++)
        await store.append({ streamId: `s${s}`, expectedVersion: k, events: [big(s * 1000 + k)], metadata: meta });
    }),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const checkpointer = (store: SqliteEventStore) =>
  (store as unknown as { checkpointer: { worker?: { w: { terminate(): Promise<number> } } } }).checkpointer;

describe('checkpoints off the event loop (storage/sqlite/checkpointer.ts)', () => {
  test('given a file store, its writing connection never checkpoints in a commit', async () => {
    const s = freshStore();
    try {
      expect(s.store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    } finally {
      await s.done();
    }
  });

  test('given appends below the cap, the worker alone copies the WAL into the database', async () => {
    const s = freshStore({ checkpoints: { stepBytes: 64 * 1024, capBytes: 64 * 1024 * 1024 } });
    try {
      const dbBefore = fs.statSync(s.file).size;
      await appendMany(s.store, 2, 40); // ~1 MB
      await sleep(300);
      expect(s.store.stats.checkpoints.ownCheckpoints).toBe(0);
      expect(fs.statSync(s.file).size).toBeGreaterThan(dbBefore + 400_000);
    } finally {
      await s.done();
    }
  });

  test('given steady appends, the worker copies the WAL into the database and the WAL stays bounded', async () => {
    const step = 64 * 1024;
    const cap = 256 * 1024;
    const s = freshStore({ checkpoints: { stepBytes: step, capBytes: cap } });
    try {
      const dbBefore = fs.statSync(s.file).size;
      let maxWal = 0;
      const watch = setInterval(() => (maxWal = Math.max(maxWal, fs.statSync(`${s.file}-wal`).size)), 1);
      await appendMany(s.store, 4, 100); // 400 events, ~5 MB: twenty times the cap
      clearInterval(watch);
      await sleep(200); // the last checkpoint asked for
      const stats = s.store.stats.checkpoints;
      expect(stats.asked).toBeGreaterThan(5);
      expect(stats.ownCheckpoints).toBeGreaterThan(0); // steady writes: the writer checkpointed past the cap
      expect(fs.statSync(s.file).size).toBeGreaterThan(dbBefore + 2_000_000); // copied by someone
      // the cap, plus what the appends during a checkpoint in flight add: far below the 5 MB written
      expect(maxWal).toBeLessThan(cap + 2 * 1024 * 1024);
      const page = await s.store.readAll(0, 1000);
      expect(page.events).toHaveLength(400);
      expect((await s.store.verify()).ok).toBe(true);
    } finally {
      await s.done();
    }
  });

  test('given a store closed after checkpoints, reopening it finds every event and an intact chain', async () => {
    const s = freshStore({ checkpoints: { stepBytes: 64 * 1024, capBytes: 256 * 1024 } });
    try {
      await appendMany(s.store, 2, 40);
      await s.store.close();
      const again = s.reopen();
      try {
        expect((await again.readAll(0, 1000)).events).toHaveLength(80);
        expect((await again.verify()).ok).toBe(true);
      } finally {
        await again.close();
      }
    } finally {
      await s.done();
    }
  });

  test('given the worker dies, the connection checkpoints by itself again and appends go on', async () => {
    const s = freshStore({ checkpoints: { stepBytes: 64 * 1024, capBytes: 256 * 1024 } });
    try {
      await appendMany(s.store, 1, 10); // the worker is started
      const worker = checkpointer(s.store).worker;
      expect(worker).toBeDefined();
      await worker!.w.terminate();
      await sleep(50);
      expect(s.store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
      await s.store.append({ streamId: 'after', expectedVersion: 0, events: [big(1)], metadata: meta });
      expect((await s.store.readAll(0, 1000)).events).toHaveLength(11);
    } finally {
      await s.done();
    }
  });

  test('given the writer checkpointing itself fails, the worker is stopped too: a close leaves no WAL behind', async () => {
    const s = freshStore({ checkpoints: { stepBytes: 64 * 1024, capBytes: 256 * 1024 } });
    try {
      await appendMany(s.store, 1, 10); // ~120 KB: the worker is started
      expect(checkpointer(s.store).worker).toBeDefined();
      await sleep(500); // its connection open
      const db = s.store.db;
      const pragma = db.pragma.bind(db);
      db.pragma = ((source: string, options?: object) => {
        if (source.startsWith('wal_checkpoint')) throw new Error('disk I/O error');
        return pragma(source, options);
      }) as typeof db.pragma;
      await s.store.append({
        streamId: 'more',
        expectedVersion: 0,
        events: Array.from({ length: 60 }, (_, k) => big(k)),
        metadata: meta,
      });
      db.pragma = pragma as typeof db.pragma;
      expect(checkpointer(s.store).worker).toBeUndefined();
      expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
      await s.store.close();
      expect(fs.existsSync(`${s.file}-wal`)).toBe(false); // the writer's was the last connection
      expect(fs.existsSync(`${s.file}-shm`)).toBe(false);
    } finally {
      await s.done();
    }
  });
});
