import { ConcurrencyError, IdempotencyConflictError } from '../../storage/event-store';
import { eachBackend, type Harness } from './backends';
import { ev, meta } from './helpers';

eachBackend((b) =>
  describe(`${b.name} event store: append and read`, () => {
    let h: Harness;
    beforeEach(async () => (h = await b.fresh()));
    afterEach(() => h.done());

    test('a stream gets versions 1..n and the store global positions in order', async () => {
      const a = await h.store.append({
        streamId: 'cpu-a',
        expectedVersion: 'no-stream',
        events: [ev(1), ev(2)],
        metadata: meta,
      });
      const b = await h.store.append({
        streamId: 'cpu-b',
        expectedVersion: 'any',
        events: [ev(3)],
        metadata: { actor: 'ops', requestId: 'r1' },
      });
      const c = await h.store.append({ streamId: 'cpu-a', expectedVersion: 2, events: [ev(4)], metadata: meta });
      expect(a.replayed).toBe(false);
      expect(a.events.map((e) => [e.position, e.version])).toEqual([
        [1, 1],
        [2, 2],
      ]);
      expect(b.events.map((e) => [e.position, e.version])).toEqual([[3, 1]]);
      expect(c.events.map((e) => [e.position, e.version])).toEqual([[4, 3]]);
      expect(b.events[0]?.metadata).toMatchObject({ actor: 'ops', requestId: 'r1' });
      expect(b.events[0]?.metadata.recordedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(await h.store.streamVersion('cpu-a')).toBe(3);
      expect(await h.store.streamVersion('nope')).toBe(0);
      const read = await h.store.readStream('cpu-a');
      expect(read.map((e) => e.data)).toEqual([ev(1).data, ev(2).data, ev(4).data]);
      expect(read[2]?.hash).toBe(c.events[0]?.hash); // both there: checked just above
      expect((await h.store.readStream('cpu-a', 2, 2)).map((e) => e.version)).toEqual([2]);
      expect((await h.store.readPayloads('cpu-a', 2)).map((e) => e[0])).toEqual([2, 3]);
    });

    test('expected version: no-stream, exactly n, any; a conflict is typed and appends nothing', async () => {
      await h.store.append({ streamId: 's', expectedVersion: 'no-stream', events: [ev(1)], metadata: meta });
      const again = h.store.append({ streamId: 's', expectedVersion: 'no-stream', events: [ev(2)], metadata: meta });
      await expect(again).rejects.toBeInstanceOf(ConcurrencyError);
      await expect(again).rejects.toMatchObject({ streamId: 's', expected: 'no-stream', actual: 1 });
      await expect(
        h.store.append({ streamId: 's', expectedVersion: 0, events: [ev(2)], metadata: meta }),
      ).rejects.toMatchObject({ expected: 0, actual: 1 });
      await expect(
        h.store.append({ streamId: 's', expectedVersion: 5, events: [ev(2)], metadata: meta }),
      ).rejects.toMatchObject({ expected: 5, actual: 1 });
      await h.store.append({ streamId: 's', expectedVersion: 'any', events: [ev(2)], metadata: meta });
      expect((await h.store.readAll(0, 100)).events.map((e) => e.position)).toEqual([1, 2]);
    });

    test('two writers with the same expected version: exactly one wins (same batch)', async () => {
      await h.store.append({ streamId: 's', expectedVersion: 'no-stream', events: [ev(0)], metadata: meta });
      const results = await Promise.allSettled([
        h.store.append({ streamId: 's', expectedVersion: 1, events: [ev(1)], metadata: { actor: 'w1' } }),
        h.store.append({ streamId: 's', expectedVersion: 1, events: [ev(2)], metadata: { actor: 'w2' } }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toBeInstanceOf(ConcurrencyError);
      expect(lost.reason).toMatchObject({ expected: 1, actual: 2 });
      expect(await h.store.streamVersion('s')).toBe(2);
      expect((await h.store.verify()).ok).toBe(true);
    });

    test('two writers with the same expected version on two connections: exactly one wins', async () => {
      const other = await h.reopen();
      try {
        await h.store.append({ streamId: 's', expectedVersion: 'no-stream', events: [ev(0)], metadata: meta });
        const results = await Promise.allSettled([
          h.store.append({ streamId: 's', expectedVersion: 1, events: [ev(1)], metadata: meta }),
          other.append({ streamId: 's', expectedVersion: 1, events: [ev(2)], metadata: meta }),
        ]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(
          ConcurrencyError,
        );
        expect(await other.streamVersion('s')).toBe(2);
        expect((await other.verify()).ok).toBe(true);
      } finally {
        await other.close();
      }
    });

    test('idempotency: a repeat returns the original result and appends nothing; another request with the key is refused', async () => {
      const idempotency = { key: 'k1', requestHash: 'h1', resultText: '{"answer":42}' };
      const first = await h.store.append({
        streamId: 's',
        expectedVersion: 'any',
        events: [ev(1), ev(2)],
        metadata: meta,
        idempotency,
      });
      const repeat = await h.store.append({
        streamId: 's',
        expectedVersion: 'any',
        events: [ev(9)],
        metadata: meta,
        idempotency,
      });
      expect(first.replayed).toBe(false);
      expect(repeat.replayed).toBe(true);
      if (!repeat.replayed) throw new Error('unreachable');
      expect(repeat.record).toMatchObject({
        streamId: 's',
        fromVersion: 1,
        toVersion: 2,
        firstPosition: 1,
        lastPosition: 2,
        resultText: '{"answer":42}',
      });
      expect(repeat.version).toBe(2);
      // a repeat with a stale expected version is still a repeat, not a conflict
      const late = await h.store.append({
        streamId: 's',
        expectedVersion: 'no-stream',
        events: [ev(9)],
        metadata: meta,
        idempotency,
      });
      expect(late.replayed).toBe(true);
      await expect(
        h.store.append({
          streamId: 's',
          expectedVersion: 'any',
          events: [ev(9)],
          metadata: meta,
          idempotency: { key: 'k1', requestHash: 'other' },
        }),
      ).rejects.toBeInstanceOf(IdempotencyConflictError);
      // The key and the request's hash identify the request, whatever stream it would write (a
      // create whose id the service generated): a repeat of it replays the first one.
      const elsewhere = await h.store.append({
        streamId: 't',
        expectedVersion: 'any',
        events: [ev(9)],
        metadata: meta,
        idempotency: { key: 'k1', requestHash: 'h1' },
      });
      expect(elsewhere).toMatchObject({ replayed: true, record: { streamId: 's', toVersion: 2 } });
      expect(await h.store.streamVersion('t')).toBe(0);
      expect(await h.store.streamVersion('s')).toBe(2);
      expect(await h.store.findIdempotency('k1')).toMatchObject({ requestHash: 'h1' });
    });

    test('the same key twice in one batch: one append, one replay', async () => {
      const idempotency = { key: 'k', requestHash: 'h' };
      const [a, b] = await Promise.all([
        h.store.append({ streamId: 's', expectedVersion: 'any', events: [ev(1)], metadata: meta, idempotency }),
        h.store.append({ streamId: 's', expectedVersion: 'any', events: [ev(1)], metadata: meta, idempotency }),
      ]);
      expect([a.replayed, b.replayed]).toEqual([false, true]);
      expect(await h.store.streamVersion('s')).toBe(1);
    });

    test('an idempotency row is rolled back with a failed append', async () => {
      await h.store.append({ streamId: 's', expectedVersion: 'any', events: [ev(1)], metadata: meta });
      await expect(
        h.store.append({
          streamId: 's',
          expectedVersion: 7,
          events: [ev(2)],
          metadata: meta,
          idempotency: { key: 'k', requestHash: 'h' },
        }),
      ).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await h.store.findIdempotency('k')).toBeUndefined();
    });

    test('zero events append nothing and open no stream', async () => {
      const r = await h.store.append({ streamId: 's', expectedVersion: 'any', events: [], metadata: meta });
      expect(r).toMatchObject({ replayed: false, version: 0, events: [] });
      expect(await h.store.getStream('s')).toBeUndefined();
      expect(h.store.stats.commits).toBe(1);
    });

    test('an event that is not JSON fails its append alone', async () => {
      const bad = h.store.append({
        streamId: 'x',
        expectedVersion: 'any',
        events: [{ type: 'T', schemaVersion: 1, data: { v: 1n } }],
        metadata: meta,
      });
      const good = h.store.append({ streamId: 'y', expectedVersion: 'any', events: [ev(1)], metadata: meta });
      await expect(bad).rejects.toThrow(/canonical JSON/);
      await expect(good).resolves.toMatchObject({ version: 1 });
      expect(await h.store.streamVersion('x')).toBe(0);
    });

    test('a write the database itself refuses fails its append alone; the rest of the batch commits', async () => {
      // a rule the store does not know, put in behind its back: events whose data says "poison"
      if (h.backend === 'sqlite')
        await h.sql(
          "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.data LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        );
      else await h.sql("ALTER TABLE events ADD CONSTRAINT poison CHECK (data NOT LIKE '%poison%')");
      try {
        const appends = [0, 1, 2, 3, 4].map((i) =>
          h.store.append({
            streamId: `s${i}`,
            expectedVersion: 'no-stream',
            events: [i === 2 ? { type: 'T', schemaVersion: 1, data: { poison: true } } : ev(i)],
            metadata: meta,
          }),
        );
        const settled = await Promise.allSettled(appends);
        expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
        expect(await h.store.streamVersion('s2')).toBe(0);
        expect((await h.store.readAll(0, 10)).events.map((e) => [e.position, e.streamId])).toEqual([
          [1, 's0'],
          [2, 's1'],
          [3, 's3'],
          [4, 's4'],
        ]);
        expect(await h.store.verify()).toMatchObject({ ok: true, events: 4 });
      } finally {
        if (h.backend === 'postgres') await h.sql('ALTER TABLE events DROP CONSTRAINT poison');
      }
    });

    test('global feed: all events after a position, paged', async () => {
      for (let i = 0; i < 25; i++)
        await h.store.append({ streamId: `s${i % 3}`, expectedVersion: 'any', events: [ev(i)], metadata: meta });
      const seen: number[] = [];
      let after = 0;
      for (;;) {
        const page = await h.store.readAll(after, 10);
        if (!page.events.length) break;
        seen.push(...page.events.map((e) => e.position));
        after = page.lastPosition;
      }
      expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
      expect((await h.store.readAll(25, 10)).lastPosition).toBe(25);
    });

    test('streams are listed by id, paged, filtered by labels', async () => {
      for (let i = 0; i < 5; i++) {
        await h.store.append({
          streamId: `cpu-${i}`,
          expectedVersion: 'no-stream',
          events: [ev(i)],
          metadata: meta,
          labels: { vm: i < 3 ? 'web-1' : 'db-1', idx: String(i) },
        });
      }
      const p1 = await h.store.listStreams({ limit: 2 });
      expect(p1.streams.map((s) => s.streamId)).toEqual(['cpu-0', 'cpu-1']);
      const p2 = await h.store.listStreams({ limit: 2, after: p1.next });
      expect(p2.streams.map((s) => s.streamId)).toEqual(['cpu-2', 'cpu-3']);
      const p3 = await h.store.listStreams({ limit: 2, after: p2.next });
      expect(p3).toEqual({
        streams: [expect.objectContaining({ streamId: 'cpu-4', version: 1, labels: { vm: 'db-1', idx: '4' } })],
      });
      const web = await h.store.listStreams({ labels: { vm: 'web-1' } });
      expect(web.streams.map((s) => s.streamId)).toEqual(['cpu-0', 'cpu-1', 'cpu-2']);
      expect((await h.store.listStreams({ labels: { vm: 'web-1', idx: '1' } })).streams.map((s) => s.streamId)).toEqual(
        ['cpu-1'],
      );
      // labels are kept when an append does not give them
      await h.store.append({ streamId: 'cpu-0', expectedVersion: 1, events: [ev(9)], metadata: meta });
      expect((await h.store.getStream('cpu-0'))?.labels).toEqual({ vm: 'web-1', idx: '0' });
    });

    test('close() writes what is queued first', async () => {
      const p = h.store.append({ streamId: 's', expectedVersion: 'any', events: [ev(1)], metadata: meta });
      await h.store.close();
      await expect(p).resolves.toMatchObject({ version: 1 });
      const again = await h.reopen();
      expect(await again.streamVersion('s')).toBe(1);
      await again.close();
    });
  }),
);
