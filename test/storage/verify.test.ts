import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { canonicalEventText, canonicalJson, chainHash, GENESIS_HASH } from '../../storage/canonical';
import { ev, freshStore, meta } from './helpers';

/** The hash of the event at `position`; fails the test when there is none. */
async function hashAt(h: ReturnType<typeof freshStore>, position: number): Promise<string> {
  const [e] = (await h.store.readAll(position - 1, 1)).events;
  if (!e) throw new Error(`no event at position ${position}`);
  return e.hash;
}

async function seeded(n = 20) {
  const h = freshStore();
  for (let i = 1; i <= n; i++) {
    await h.store.append({
      streamId: `cpu-${i % 3}`,
      expectedVersion: 'any',
      events: [ev(i)],
      metadata: { ...meta, requestId: `r${i}` },
    });
  }
  return h;
}

describe('hash chain', () => {
  test('canonical bytes: sorted keys, no whitespace; the concatenated form equals canonicalJson of the whole event', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x"y'], c: { z: 1, y: undefined, x: 2 } })).toBe(
      '{"a":[true,null,"x\\"y"],"b":1,"c":{"x":2,"z":1}}',
    );
    const fields = { position: 7, streamId: 'cpu "1"', version: 3, type: 'RegistersWritten', schemaVersion: 1 };
    const data = { written: { '0x603000000013de82': '0x0000000000001234' } };
    const metadata = { recordedAt: '2026-01-01T00:00:00.000Z', actor: 'ops' };
    expect(
      canonicalEventText({ ...fields, dataText: canonicalJson(data), metadataText: canonicalJson(metadata) }),
    ).toBe(canonicalJson({ ...fields, data, metadata }));
    expect(() => canonicalJson({ v: 1n })).toThrow();
    expect(() => canonicalJson({ v: NaN })).toThrow();
  });

  test('an auditor recomputes the head from the feed alone (sha256 of previous hash + canonical JSON)', async () => {
    const h = await seeded(7);
    try {
      let prev = Buffer.alloc(32);
      for (const e of (await h.store.readAll(0, 100)).events) {
        const { hash, ...rest } = e;
        prev = createHash('sha256').update(prev).update(canonicalJson(rest)).digest();
        expect(prev.toString('hex')).toBe(hash);
      }
      const report = await h.store.verify();
      expect(report).toEqual({ ok: true, events: 7, headPosition: 7, headHash: prev.toString('hex') });
      expect((await h.store.verify({ position: 3, hash: await hashAt(h, 3) })).ok).toBe(true);
    } finally {
      await h.done();
    }
  });

  test('an empty store verifies with the genesis head', async () => {
    const h = freshStore();
    expect(await h.store.verify()).toEqual({
      ok: true,
      events: 0,
      headPosition: 0,
      headHash: GENESIS_HASH.toString('hex'),
    });
    await h.done();
  });

  test('a long verify walks page by page and lets this process keep appending meanwhile', async () => {
    const h = freshStore();
    try {
      for (let b = 0; b < 12; b++) {
        await Promise.all(
          Array.from({ length: 1000 }, (_, i) =>
            h.store.append({
              streamId: `cpu-${i % 7}`,
              expectedVersion: 'any',
              events: [ev(b * 1000 + i)],
              metadata: meta,
            }),
          ),
        );
      }
      let verified = false;
      const verifying = h.store.verify().then((r) => {
        verified = true;
        return r;
      });
      const commitsBefore = h.store.stats.commits;
      const appending = h.store.append({ streamId: 'during', expectedVersion: 'any', events: [ev(1)], metadata: meta });
      await new Promise((r) => setImmediate(r)); // the group commit runs
      expect(h.store.stats.commits).toBe(commitsBefore + 1);
      expect(verified).toBe(false); // the append committed while the walk was still going
      const appended = await appending;
      expect(appended.events[0]?.position).toBe(12_001);
      expect(await verifying).toMatchObject({ ok: true, events: 12_000 });
      h.store.db.prepare('UPDATE events SET metadata = \'{"actor":"x"}\' WHERE position = 10001').run();
      expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 10_001, events: 10_000 });
    } finally {
      await h.done();
    }
  });

  describe('tampering is reported at the first broken position', () => {
    let h: Awaited<ReturnType<typeof seeded>>;
    beforeEach(async () => (h = await seeded(20)));
    afterEach(() => h.done());

    test('an edited payload', async () => {
      h.store.db
        .prepare(
          "UPDATE events SET data = replace(data, '0x000000000000000c', '0x000000000000000d') WHERE position = 12",
        )
        .run();
      expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 12, headPosition: 11 });
    });

    test('edited metadata, type or version', async () => {
      h.store.db.prepare("UPDATE events SET metadata = replace(metadata, 'test', 'mallory') WHERE position = 5").run();
      expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 5 });
      h.store.db.prepare("UPDATE events SET metadata = replace(metadata, 'mallory', 'test') WHERE position = 5").run();
      expect((await h.store.verify()).ok).toBe(true);
      h.store.db.prepare("UPDATE events SET type = 'Other' WHERE position = 9").run();
      expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 9 });
    });

    test('a deleted row (middle and tail)', async () => {
      h.store.db.prepare('DELETE FROM events WHERE position = 8').run();
      expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 9 });
      const h2 = await seeded(5);
      try {
        h2.store.db.prepare('DELETE FROM events WHERE position = 5').run();
        expect(await h2.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 5, headPosition: 4 });
      } finally {
        await h2.done();
      }
    });

    test('an inserted row (in the middle, renumbering the rest; and at the end with a forged hash)', async () => {
      const db = h.store.db;
      db.pragma('foreign_keys = OFF');
      db.transaction(() => {
        for (let p = 20; p >= 11; p--) db.prepare('UPDATE events SET position = ? WHERE position = ?').run(p + 1, p);
        const prev = db.prepare('SELECT hash FROM events WHERE position = 10').pluck().get() as Buffer;
        // the forger even computes a correct link for the row it inserts
        const row = {
          position: 11,
          streamId: 'cpu-1',
          version: 99,
          type: 'Tested',
          schemaVersion: 1,
          dataText: '{"n":0}',
          metadataText: '{"actor":"x"}',
        };
        db.prepare(
          'INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        ).run(
          11,
          row.streamId,
          8,
          row.type,
          1,
          row.dataText,
          row.metadataText,
          chainHash(prev, canonicalEventText({ ...row, version: 8 })),
        );
      })();
      const r = await h.store.verify();
      expect(r.ok).toBe(false);
      expect(r.firstBrokenPosition).toBe(11);

      const h2 = await seeded(5);
      try {
        h2.store.db
          .prepare(
            "INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) VALUES (6, 'cpu-0', 2, 'T', 1, '{}', '{}', randomblob(32))",
          )
          .run();
        expect(await h2.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 6, headPosition: 5 });
        h2.store.db.prepare('DELETE FROM events WHERE position = 6').run();
        h2.store.db
          .prepare(
            "INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) VALUES (-1, 'cpu-0', 9, 'T', 1, '{}', '{}', randomblob(32))",
          )
          .run();
        expect(await h2.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: -1 });
      } finally {
        await h2.done();
      }
    });

    test('a value edited in the database file behind the open store (another connection, and raw bytes)', async () => {
      // another process's connection, as the sqlite3 shell would do it
      const other = new Database(h.file);
      other
        .prepare(
          "UPDATE events SET data = replace(data, '0x0000000000000004', '0x0000000000000005') WHERE position = 4",
        )
        .run();
      other.close();
      expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 4 });
      const again = new Database(h.file);
      again
        .prepare(
          "UPDATE events SET data = replace(data, '0x0000000000000005', '0x0000000000000004') WHERE position = 4",
        )
        .run();
      again.close();
      expect((await h.store.verify()).ok).toBe(true);
      // raw bytes of the file, no SQLite locking at all (the row's page is in the main file)
      h.store.db.pragma('wal_checkpoint(TRUNCATE)');
      const bytes = fs.readFileSync(h.file);
      const needle = Buffer.from('"0x0000000000000011"');
      const at = bytes.indexOf(needle);
      expect(at).toBeGreaterThan(0);
      bytes[at + needle.length - 2] = '7'.charCodeAt(0);
      fs.writeFileSync(h.file, bytes);
      expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 17 });
    });

    test('a rewritten chain is caught by an anchored head', async () => {
      const anchor = { position: 15, hash: await hashAt(h, 15) };
      // rewrite event 3 and recompute every hash after it (what a careful forger does)
      const db = h.store.db;
      db.prepare('UPDATE events SET data = \'{"n":666}\' WHERE position = 3').run();
      let prev: Buffer = db.prepare('SELECT hash FROM events WHERE position = 2').pluck().get() as Buffer;
      const rows = db.prepare('SELECT * FROM events WHERE position >= 3 ORDER BY position').all() as Array<{
        position: number;
        stream_id: string;
        version: number;
        type: string;
        schema_version: number;
        data: string;
        metadata: string;
      }>;
      for (const r of rows) {
        prev = chainHash(
          prev,
          canonicalEventText({
            position: r.position,
            streamId: r.stream_id,
            version: r.version,
            type: r.type,
            schemaVersion: r.schema_version,
            dataText: r.data,
            metadataText: r.metadata,
          }),
        );
        db.prepare('UPDATE events SET hash = ? WHERE position = ?').run(prev, r.position);
      }
      expect((await h.store.verify()).ok).toBe(true);
      expect(await h.store.verify(anchor)).toMatchObject({ ok: false, firstBrokenPosition: 15 });
      expect(await h.store.verify({ position: 99, hash: anchor.hash })).toMatchObject({
        ok: false,
        firstBrokenPosition: 99,
      });
    });
  });
});
