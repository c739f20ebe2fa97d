import { ConcurrencyError, IdempotencyConflictError, type AppendGroupResult } from '../../storage/event-store';
import { eachBackend, type Harness } from './backends';
import { ev, meta } from './helpers';

eachBackend((b) =>
  describe(`${b.name}: idempotency keys`, () => {
    let h: Harness;
    beforeEach(async () => (h = await b.fresh()));
    afterEach(() => h.done());

    test('a group over several streams records one key: its first stream, all its positions, the answer', async () => {
      await h.store.append({ streamId: 'b', expectedVersion: 'no-stream', events: [ev(0)], metadata: meta });
      const idempotency = { key: 'vm-import-1', requestHash: 'h', resultText: '{"vm":"x","cpus":2}' };
      const group = {
        appends: [
          { streamId: 'a', expectedVersion: 0, events: [ev(1), ev(2)] },
          { streamId: 'b', expectedVersion: 1, events: [ev(3)] },
        ],
        metadata: meta,
        idempotency,
      };
      const first = await h.store.appendGroup(group);
      expect(first.replayed).toBe(false);
      const rec = await h.store.findIdempotency('vm-import-1');
      expect(rec).toEqual({
        key: 'vm-import-1',
        requestHash: 'h',
        streamId: 'a',
        fromVersion: 1,
        toVersion: 2,
        firstPosition: 2,
        lastPosition: 4,
        resultText: '{"vm":"x","cpus":2}',
      });
      // a repeat, even with stale expected versions, is a replay of the record
      expect(await h.store.appendGroup(group)).toEqual({ replayed: true, record: rec });
      expect((await h.store.readAll(0, 10)).events).toHaveLength(4);
    });

    test('a group that fails on one stream records no key and appends to none of its streams', async () => {
      await h.store.append({ streamId: 'b', expectedVersion: 'no-stream', events: [ev(0)], metadata: meta });
      const failed = h.store.appendGroup({
        appends: [
          { streamId: 'a', expectedVersion: 0, events: [ev(1)] },
          { streamId: 'b', expectedVersion: 5, events: [ev(2)] },
        ],
        metadata: meta,
        idempotency: { key: 'k', requestHash: 'h' },
      });
      await expect(failed).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await h.store.findIdempotency('k')).toBeUndefined();
      expect(await h.store.streamVersion('a')).toBe(0);
      expect(await h.store.streamVersion('b')).toBe(1);
      expect((await h.store.verify()).events).toBe(1);
    });

    test('a key with a group that writes no event is still recorded (a repeat gets the same answer)', async () => {
      await h.store.append({ streamId: 'a', expectedVersion: 'no-stream', events: [ev(0)], metadata: meta });
      const r = await h.store.appendGroup({
        appends: [{ streamId: 'a', expectedVersion: 1, events: [] }],
        metadata: meta,
        idempotency: { key: 'noop', requestHash: 'h', resultText: '{"unchanged":true}' },
      });
      expect(r).toEqual({ replayed: false, streams: [{ streamId: 'a', version: 1, events: [] }] });
      expect(await h.store.findIdempotency('noop')).toMatchObject({
        streamId: 'a',
        fromVersion: 2,
        toVersion: 1,
        resultText: '{"unchanged":true}',
      });
      expect(await h.store.streamVersion('a')).toBe(1);
    });

    test('one key sent through two stores (nodes) at once: one effect, the same record for both', async () => {
      const other = await h.reopen();
      for (let round = 0; round < 10; round++) {
        const idempotency = { key: `race-${round}`, requestHash: 'same', resultText: `{"round":${round}}` };
        const send = (s: typeof h.store, n: number) =>
          s.appendGroup({
            appends: [{ streamId: `cpu-${round}`, expectedVersion: 'any', events: [ev(n)] }],
            metadata: meta,
            idempotency,
          });
        const results: AppendGroupResult[] = await Promise.all([send(h.store, 1), send(other, 2)]);
        const won = results.filter((r) => !r.replayed);
        expect(won).toHaveLength(1);
        const replayed = results.find((r) => r.replayed);
        expect(replayed).toMatchObject({ replayed: true, record: { resultText: `{"round":${round}}`, toVersion: 1 } });
        expect(await h.store.streamVersion(`cpu-${round}`)).toBe(1);
      }
      expect((await h.store.verify()).events).toBe(10);
    });

    test('one key with two different requests through two stores at once: one wins, the other is refused', async () => {
      const other = await h.reopen();
      const send = (s: typeof h.store, hash: string) =>
        s.append({
          streamId: 'cpu',
          expectedVersion: 'any',
          events: [ev(1)],
          metadata: meta,
          idempotency: { key: 'k', requestHash: hash },
        });
      const results = await Promise.allSettled([send(h.store, 'one'), send(other, 'two')]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(
        IdempotencyConflictError,
      );
      expect(await h.store.streamVersion('cpu')).toBe(1);
    });
  }),
);
