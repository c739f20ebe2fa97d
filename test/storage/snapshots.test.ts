import { eachBackend, type Harness } from './backends';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SnapshotSeal } from '../../storage/snapshot-seal';
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

    test('a state edited with its checksum recomputed is refused: the seal is keyed, the key is not in the database', async () => {
      await h.store.putSnapshot({ streamId: 's', version: 8, schemaVersion: 1, data: state(8) });
      const [row] = (await h.sql("SELECT data, event_hash, checksum FROM snapshots WHERE stream_id = 's'")) as Array<{
        data: string;
        event_hash: Buffer;
        checksum: Buffer;
      }>;
      const forged = row!.data.replace('"folded":8', '"folded":99');
      // every unkeyed recomputation a writer of the database could make: the old checksum's
      // bytes, and the same behind the seal's key id
      const plain = createHash('sha256').update(row!.event_hash).update('1\n').update(forged).digest();
      for (const checksum of [plain, Buffer.concat([row!.checksum.subarray(0, 8), plain])]) {
        await h.sql("UPDATE snapshots SET data = ?, checksum = ? WHERE stream_id = 's'", [forged, checksum]);
        const before = h.store.stats.snapshotsSkipped;
        expect(await h.store.getSnapshots('s', 10)).toEqual([]);
        // under our key id it is tampering (counted and reported); without it, not ours to trust
        expect(h.store.stats.snapshotsSkipped - before).toBe(checksum === plain ? 0 : 1);
      }
    });

    test('a refused snapshot is reported with its reason', async () => {
      const seen: string[] = [];
      const other = await h.reopen({ onSnapshotRejected: (r) => seen.push(`${r.streamId}@${r.version}: ${r.reason}`) });
      await other.putSnapshot({ streamId: 's', version: 5, schemaVersion: 1, data: state(5) });
      await h.sql('UPDATE snapshots SET schema_version = 2 WHERE version = 5');
      expect(await other.getSnapshots('s', 10)).toEqual([]);
      expect(seen).toEqual([expect.stringMatching(/^s@5: its state or binding was changed/)]);
    });

    test('a snapshot sealed under another key is passed over, not trusted', async () => {
      const other = await h.reopen({ snapshotSeal: new SnapshotSeal(Buffer.alloc(32, 7)) });
      await other.putSnapshot({ streamId: 's', version: 6, schemaVersion: 1, data: state(6) });
      expect(await h.store.getSnapshots('s', 10)).toEqual([]);
      expect((await other.getSnapshots('s', 10)).map((s) => s.version)).toEqual([6]);
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

describe('the snapshot key without a signing key (SQLite)', () => {
  test('kept beside the database, owner-only: a second process derives the same seal', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-seal-'));
    try {
      const db = path.join(dir, 'sub', 'cpreg.db');
      const a = SnapshotSeal.besideDatabase(db);
      const b = SnapshotSeal.besideDatabase(db);
      expect(b.keyId.equals(a.keyId)).toBe(true);
      expect(fs.statSync(`${db}.snapshot-key`).mode & 0o777).toBe(0o600);
      expect(SnapshotSeal.besideDatabase(path.join(dir, 'other.db')).keyId.equals(a.keyId)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
