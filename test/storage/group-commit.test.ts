import { GroupCommitter } from '../../storage/group-commit';
import { AsyncGroupCommitter } from '../../storage/postgres/batcher';
import { ConcurrencyError } from '../../storage/event-store';
import { eachBackend } from './backends';
import { ev, meta } from './helpers';

describe('group commit', () => {
  test('the committer batches one event-loop turn and answers only after the batch ran', async () => {
    const ran: number[][] = [];
    const c = new GroupCommitter<number, number>((items) => {
      ran.push([...items]);
      return items.map((i) => (i === 3 ? { ok: false, error: new Error('three') } : { ok: true, value: i * 10 }));
    });
    const ps = [1, 2, 3, 4].map((i) => c.submit(i));
    expect(ran).toEqual([]);
    const settled = await Promise.allSettled(ps);
    expect(ran).toEqual([[1, 2, 3, 4]]);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : 'x'))).toEqual([10, 20, 'x', 40]);
    await c.submit(5);
    expect(ran).toHaveLength(2);
  });

  test('a batch that throws fails every item in it', async () => {
    const c = new GroupCommitter<number, number>(() => {
      throw new Error('disk on fire');
    });
    await expect(Promise.all([c.submit(1), c.submit(2)])).rejects.toThrow('disk on fire');
  });

  test('one sync in flight: what comes while it runs commits after it, as one batch with one sync; a flush commits at once', async () => {
    const ran: number[][] = [];
    const syncs: Array<() => void> = [];
    const answered: number[] = [];
    const c = new GroupCommitter<number, number>(
      (items) => {
        ran.push([...items]);
        return items.map((i) => ({ ok: true, value: i }));
      },
      1000,
      () => new Promise<void>((r) => syncs.push(r)),
    );
    const turn = () => new Promise((r) => setImmediate(r));
    const first = [1, 2].map((i) => c.submit(i).then((v) => answered.push(v)));
    await turn();
    expect(ran).toEqual([[1, 2]]);
    expect(syncs).toHaveLength(1);
    const second = [3, 4].map((i) => c.submit(i).then((v) => answered.push(v)));
    await turn();
    await turn();
    expect(ran).toHaveLength(1); // waits for the sync in flight
    expect(answered).toEqual([]); // nothing answered before its sync
    syncs[0]!();
    await Promise.all(first);
    expect(answered).toEqual([1, 2]);
    await turn();
    await turn();
    expect(ran).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(syncs).toHaveLength(2);
    const third = c.submit(5).then((v) => answered.push(v));
    c.flush(); // close(): commits now, even with a sync in flight, and syncs it too
    expect(ran).toEqual([[1, 2], [3, 4], [5]]);
    expect(syncs).toHaveLength(3);
    syncs[2]!();
    await third;
    expect(answered).toEqual([1, 2, 5]); // 3 and 4 still wait for their own sync
    syncs[1]!();
    await Promise.all(second);
    expect(answered).toEqual([1, 2, 5, 3, 4]);
  });

  test('the asynchronous committer (PostgreSQL): one batch in flight, what comes meanwhile goes into the next', async () => {
    const ran: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const c = new AsyncGroupCommitter<number, number>(async (items) => {
      ran.push([...items]);
      if (ran.length === 1) await gate;
      return items.map((i) => (i === 3 ? { ok: false, error: new Error('three') } : { ok: true, value: i * 10 }));
    });
    const first = [1, 2, 3].map((i) => c.submit(i));
    expect(ran).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(ran).toEqual([[1, 2, 3]]);
    const second = [4, 5].map((i) => c.submit(i)); // while the first batch is in flight
    await new Promise((r) => setTimeout(r, 10));
    expect(ran).toHaveLength(1);
    release();
    const settled = await Promise.allSettled([...first, ...second]);
    expect(ran).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : 'x'))).toEqual([10, 20, 'x', 40, 50]);
    await c.flush();
    expect(c.batches).toBe(2);
  });

  test('the asynchronous committer lingers for the callers of its last batch: they come back one by one, go together', async () => {
    const ran: number[][] = [];
    const c = new AsyncGroupCommitter<number, number>(
      async (items) => {
        ran.push([...items]);
        return items.map((i) => ({ ok: true, value: i }));
      },
      1000,
      undefined,
      50,
    );
    await Promise.all([1, 2, 3].map((i) => c.submit(i)));
    // each caller reads something before its next append: they return in different turns
    const again = [4, 5, 6].map((i, k) => new Promise((r) => setTimeout(r, k * 3)).then(() => c.submit(i)));
    await Promise.all(again);
    expect(ran).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    // one caller after a batch of three waits at most the linger; after a batch of one, for nobody
    let t0 = Date.now();
    await c.submit(7);
    expect(Date.now() - t0).toBeLessThan(45 + 50);
    t0 = Date.now();
    await c.submit(8);
    expect(Date.now() - t0).toBeLessThan(45);
    expect(ran.slice(2)).toEqual([[7], [8]]);
  });

  test('the asynchronous committer: a batch that throws fails every item in it, and the next batch runs', async () => {
    let n = 0;
    const c = new AsyncGroupCommitter<number, number>(async (items) => {
      if (n++ === 0) throw new Error('server gone');
      return items.map((i) => ({ ok: true, value: i }));
    });
    await expect(Promise.all([c.submit(1), c.submit(2)])).rejects.toThrow('server gone');
    await expect(c.submit(3)).resolves.toBe(3);
  });
});

eachBackend((b) =>
  describe(`${b.name}: group commit`, () => {
    test('N concurrent appends → one transaction; a conflicting one fails alone', async () => {
      const h = await b.fresh();
      try {
        const before = h.store.stats.commits;
        const ps = Array.from({ length: 50 }, (_, i) =>
          h.store.append({ streamId: `cpu-${i}`, expectedVersion: 'no-stream', events: [ev(i)], metadata: meta }),
        );
        const bad = h.store.append({
          streamId: 'cpu-0',
          expectedVersion: 'no-stream',
          events: [ev(99)],
          metadata: meta,
        });
        // a version conflict may be answered before the rest of its batch (PostgreSQL: append.ts)
        bad.catch(() => undefined);
        const results = await Promise.all(ps);
        await expect(bad).rejects.toBeInstanceOf(ConcurrencyError);
        expect(h.store.stats.commits - before).toBe(1);
        expect(results.map((r) => r.events[0]?.position)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
        expect((await h.store.verify()).ok).toBe(true);
      } finally {
        await h.done();
      }
    });

    test('appends to one stream in one batch are chained by version', async () => {
      const h = await b.fresh();
      try {
        const ps = Array.from({ length: 10 }, (_, i) =>
          h.store.append({
            streamId: 's',
            expectedVersion: i === 0 ? 'no-stream' : i,
            events: [ev(i)],
            metadata: meta,
          }),
        );
        expect((await Promise.all(ps)).map((r) => r.version)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
        expect(h.store.stats.commits).toBe(1);
      } finally {
        await h.done();
      }
    });

    test('sequential appends (each awaited) commit one transaction each', async () => {
      const h = await b.fresh();
      try {
        for (let i = 0; i < 10; i++)
          await h.store.append({ streamId: 's', expectedVersion: 'any', events: [ev(i)], metadata: meta });
        expect(h.store.stats.commits).toBe(10);
      } finally {
        await h.done();
      }
    });
  }),
);
