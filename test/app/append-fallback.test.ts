/**
 * storage/sqlite/append.ts runs a batch without savepoints while every group's checks pass before
 * its writes; a write that fails anyway rolls the batch back and runs it again with one savepoint
 * per group. (Here, not in test/storage/, which another backend's work owns.)
 */
import { freshStore, ev, meta } from '../storage/helpers';
test('a write failing after its checks fails its group alone', async () => {
  const { store, done } = freshStore();
  try {
    await store.append({ streamId: 'a', expectedVersion: 'no-stream', events: [ev(1), ev(2)], metadata: meta });
    // behind the store's back: a trigger that refuses stream a's next row, after the checks passed
    // (a lowered streams.version no longer provokes it: appends continue from the log's head)
    store.db.exec(
      "CREATE TRIGGER refuse_a BEFORE INSERT ON events WHEN NEW.stream_id = 'a' BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END",
    );
    const [bad, good, conflict] = await Promise.allSettled([
      store.append({ streamId: 'a', expectedVersion: 2, events: [ev(3)], metadata: meta }),
      store.append({ streamId: 'b', expectedVersion: 'no-stream', events: [ev(4)], metadata: meta }),
      store.append({ streamId: 'c', expectedVersion: 5, events: [ev(5)], metadata: meta }),
    ]);
    expect(bad.status).toBe('rejected');
    expect(String((bad as PromiseRejectedResult).reason)).toMatch(/refused by a trigger/);
    expect(good.status).toBe('fulfilled');
    expect((conflict as PromiseRejectedResult).reason.name).toBe('ConcurrencyError');
    expect(await store.streamVersion('b')).toBe(1);
    expect(await store.streamVersion('a')).toBe(2);
    expect((await store.verify()).ok).toBe(true);
    const e = (
      good as PromiseFulfilledResult<{ events: { data: unknown; metadata: { actor: string }; hash: string }[] }>
    ).value.events[0]!;
    expect(e.data).toEqual({ n: 4, value: '0x0000000000000004' });
    expect(e.metadata.actor).toBe('test');
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
  } finally {
    await done();
  }
});
