import { eachBackend, type Harness } from './backends';
import { ev, meta } from './helpers';

eachBackend((b) =>
  describe(`${b.name}: snapshots`, () => {
    let h: Harness;
    beforeEach(async () => {
      h = await b.fresh();
      for (let i = 1; i <= 10; i++)
        await h.store.append({ streamId: 's', expectedVersion: i - 1, events: [ev(i)], metadata: meta });
    });
    afterEach(() => h.done());

    const state = (v: number) => ({ folded: v, regs: [`0x${v.toString(16).padStart(16, '0')}`] });

    test('the newest valid snapshots at or below a version come first, at most `limit`', async () => {
      for (const v of [3, 6, 9])
        await h.store.putSnapshot({ streamId: 's', version: v, schemaVersion: 1, data: state(v) });
      expect((await h.store.getSnapshots('s', 10)).map((s) => s.version)).toEqual([9, 6, 3]);
      expect((await h.store.getSnapshots('s', 8)).map((s) => s.version)).toEqual([6, 3]);
      expect((await h.store.getSnapshots('s', 10, 1)).map((s) => s.version)).toEqual([9]);
      expect(await h.store.getSnapshots('s', 2)).toEqual([]);
      expect(await h.store.getSnapshots('other', 10)).toEqual([]);
      expect((await h.store.getSnapshots('s', 6, 1))[0]).toEqual({
        streamId: 's',
        version: 6,
        schemaVersion: 1,
        data: state(6),
      });
    });

    test('writing a snapshot again at a version replaces it', async () => {
      await h.store.putSnapshot({ streamId: 's', version: 5, schemaVersion: 1, data: state(5) });
      await h.store.putSnapshot({ streamId: 's', version: 5, schemaVersion: 2, data: { other: true } });
      expect(await h.store.getSnapshots('s', 5)).toEqual([
        { streamId: 's', version: 5, schemaVersion: 2, data: { other: true } },
      ]);
    });

    test('a snapshot of an event that does not exist is refused', async () => {
      await expect(h.store.putSnapshot({ streamId: 's', version: 11, schemaVersion: 1, data: {} })).rejects.toThrow(
        /no event s@11/,
      );
      await expect(h.store.putSnapshot({ streamId: 'nope', version: 1, schemaVersion: 1, data: {} })).rejects.toThrow();
    });

    test('a damaged snapshot (its bytes edited) is skipped, never trusted', async () => {
      for (const v of [4, 8])
        await h.store.putSnapshot({ streamId: 's', version: v, schemaVersion: 1, data: state(v) });
      await h.sql('UPDATE snapshots SET data = replace(data, \'"folded":8\', \'"folded":9\') WHERE version = 8');
      const before = h.store.stats.snapshotsSkipped;
      expect((await h.store.getSnapshots('s', 10)).map((s) => s.version)).toEqual([4]);
      expect(h.store.stats.snapshotsSkipped).toBe(before + 1);
      // a schema version edited without the checksum: skipped too
      await h.sql('UPDATE snapshots SET schema_version = 7 WHERE version = 4');
      expect(await h.store.getSnapshots('s', 10)).toEqual([]);
    });

    test('a snapshot bound to an event whose hash changed (history rewritten) is skipped', async () => {
      await h.store.putSnapshot({ streamId: 's', version: 7, schemaVersion: 1, data: state(7) });
      await h.sql("UPDATE events SET hash = ? WHERE stream_id = 's' AND version = 7", [Buffer.alloc(32, 1)]);
      expect(await h.store.getSnapshots('s', 10)).toEqual([]);
      // and one whose event is gone
      await h.store.putSnapshot({ streamId: 's', version: 10, schemaVersion: 1, data: state(10) });
      await h.sql("DELETE FROM events WHERE stream_id = 's' AND version = 10");
      expect(await h.store.getSnapshots('s', 10)).toEqual([]);
    });

    test('a snapshot written through one store (node) is used by another on the same database', async () => {
      const other = await h.reopen();
      await other.putSnapshot({ streamId: 's', version: 10, schemaVersion: 1, data: state(10) });
      expect((await h.store.getSnapshots('s', 10)).map((s) => [s.version, s.data])).toEqual([[10, state(10)]]);
    });
  }),
);
