import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { canonicalEventText, canonicalJson, chainHash, GENESIS_HASH } from '../../storage/canonical';
import type { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';
import { eachBackend, type Backend, type Harness } from './backends';
import { ev, meta } from './helpers';

/** The hash of the event at `position`; fails the test when there is none. */
async function hashAt(h: Harness, position: number): Promise<string> {
  const [e] = (await h.store.readAll(position - 1, 1)).events;
  if (!e) throw new Error(`no event at position ${position}`);
  return e.hash;
}

async function seeded(b: Backend, n = 20) {
  const h = await b.fresh();
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
});

eachBackend((b) =>
  describe(`${b.name}: hash chain`, () => {
    test('an auditor recomputes the head from the feed alone (sha256 of previous hash + canonical JSON)', async () => {
      const h = await seeded(b, 7);
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
      const h = await b.fresh();
      expect(await h.store.verify()).toEqual({
        ok: true,
        events: 0,
        headPosition: 0,
        headHash: GENESIS_HASH.toString('hex'),
      });
      await h.done();
    });

    test('a long verify walks page by page and lets this process keep appending meanwhile', async () => {
      const h = await b.fresh();
      try {
        for (let k = 0; k < 12; k++) {
          await Promise.all(
            Array.from({ length: 1000 }, (_, i) =>
              h.store.append({
                streamId: `cpu-${i % 7}`,
                expectedVersion: 'any',
                events: [ev(k * 1000 + i)],
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
        const appending = h.store.append({
          streamId: 'during',
          expectedVersion: 'any',
          events: [ev(1)],
          metadata: meta,
        });
        if (h.backend === 'sqlite') {
          await new Promise((r) => setImmediate(r)); // the group commit runs
          expect(h.store.stats.commits).toBe(commitsBefore + 1);
          expect(verified).toBe(false); // the append committed while the walk was still going
        }
        const appended = await appending;
        expect(appended.events[0]?.position).toBe(12_001);
        if (h.backend === 'sqlite') {
          // the walk is of one moment: the append that committed meanwhile is not in it
          expect(await verifying).toMatchObject({ ok: true, events: 12_000 });
        } else {
          // PostgreSQL: the walk (its own connection, one REPEATABLE READ snapshot taken at its
          // first page) and the append (the head lock) never wait for each other; the walk sees
          // the append or not, depending on which came first, and is consistent either way
          expect(h.store.stats.commits).toBe(commitsBefore + 1);
          const report = await verifying;
          expect(report.ok).toBe(true);
          expect([12_000, 12_001]).toContain(report.events);
        }
        await h.sql('UPDATE events SET metadata = \'{"actor":"x"}\' WHERE position = 10001');
        expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 10_001, events: 10_000 });
      } finally {
        await h.done();
      }
    });

    describe('tampering is reported at the first broken position', () => {
      let h: Harness;
      beforeEach(async () => (h = await seeded(b, 20)));
      afterEach(() => h.done());

      test('an edited payload', async () => {
        await h.sql(
          "UPDATE events SET data = replace(data, '0x000000000000000c', '0x000000000000000d') WHERE position = 12",
        );
        expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 12, headPosition: 11 });
      });

      test('edited metadata, type or version', async () => {
        await h.sql("UPDATE events SET metadata = replace(metadata, 'test', 'mallory') WHERE position = 5");
        expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 5 });
        await h.sql("UPDATE events SET metadata = replace(metadata, 'mallory', 'test') WHERE position = 5");
        expect((await h.store.verify()).ok).toBe(true);
        await h.sql("UPDATE events SET type = 'Other' WHERE position = 9");
        expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 9 });
        await h.sql("UPDATE events SET type = 'Tested', version = 7 WHERE position = 9");
        expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 9 });
      });

      test('a deleted row (middle and tail)', async () => {
        await h.sql('DELETE FROM events WHERE position = 8');
        expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 9 });
        const h2 = await seeded(b, 5);
        try {
          await h2.sql('DELETE FROM events WHERE position = 5');
          expect(await h2.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 5, headPosition: 4 });
        } finally {
          await h2.done();
        }
      });

      test('an inserted row (in the middle, renumbering the rest; and at the end with a forged hash)', async () => {
        if (h.backend === 'sqlite') await h.sql('PRAGMA foreign_keys = OFF');
        for (let p = 20; p >= 11; p--) await h.sql('UPDATE events SET position = ? WHERE position = ?', [p + 1, p]);
        const [prevRow] = await h.sql('SELECT hash FROM events WHERE position = 10');
        const prev = prevRow!.hash as Buffer;
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
        await h.sql(
          'INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          [
            11,
            row.streamId,
            8,
            row.type,
            1,
            row.dataText,
            row.metadataText,
            chainHash(prev, canonicalEventText({ ...row, version: 8 })),
          ],
        );
        const r = await h.store.verify();
        expect(r.ok).toBe(false);
        expect(r.firstBrokenPosition).toBe(11);

        const h2 = await seeded(b, 5);
        try {
          await h2.sql(
            "INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) VALUES (6, 'cpu-0', 2, 'T', 1, '{}', '{}', ?)",
            [randomBytes(32)],
          );
          expect(await h2.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 6, headPosition: 5 });
          await h2.sql('DELETE FROM events WHERE position = 6');
          await h2.sql(
            "INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) VALUES (-1, 'cpu-0', 9, 'T', 1, '{}', '{}', ?)",
            [randomBytes(32)],
          );
          expect(await h2.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: -1 });
        } finally {
          await h2.done();
        }
      });

      test('a row appended with a correct link but behind the store (no append gave its position)', async () => {
        const [last] = await h.sql('SELECT hash FROM events WHERE position = 20');
        const row = {
          position: 21,
          streamId: 'cpu-0',
          version: 7,
          type: 'Tested',
          schemaVersion: 1,
          dataText: '{"n":21}',
          metadataText: '{"actor":"x"}',
        };
        await h.sql(
          'INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          [
            21,
            row.streamId,
            7,
            row.type,
            1,
            row.dataText,
            row.metadataText,
            chainHash(last!.hash as Buffer, canonicalEventText(row)),
          ],
        );
        // PostgreSQL: no append gave position 21 (event_head is at 20). SQLite's AUTOINCREMENT
        // sequence follows an explicit position, but the stream's recorded head (streams.version,
        // 6) is not the log's (7): caught there too (docs/audit.md)
        expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 21 });
      });

      test("a stream's recorded head lowered or raised behind the store", async () => {
        await h.sql("UPDATE streams SET version = 5 WHERE stream_id = 'cpu-0'");
        const lowered = await h.store.verify();
        expect(lowered).toMatchObject({ ok: false, firstBrokenPosition: 18 }); // cpu-0@6 is position 18
        expect(lowered.reason).toMatch(/stream cpu-0 is recorded at version 5 but its events end at 6/);
        // what a reader is told is the log's head, whatever streams.version says
        expect(await h.store.streamVersion('cpu-0')).toBe(6);
        await h.sql("UPDATE streams SET version = 9 WHERE stream_id = 'cpu-0'");
        expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 18 });
        await h.sql("UPDATE streams SET version = 6 WHERE stream_id = 'cpu-0'");
        expect((await h.store.verify()).ok).toBe(true);
      });

      test('a value edited in the database behind the open store (another connection, and raw bytes)', async () => {
        // another process's connection, as the sqlite3 shell or psql would do it
        await h.sql(
          "UPDATE events SET data = replace(data, '0x0000000000000004', '0x0000000000000005') WHERE position = 4",
        );
        expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 4 });
        await h.sql(
          "UPDATE events SET data = replace(data, '0x0000000000000005', '0x0000000000000004') WHERE position = 4",
        );
        expect((await h.store.verify()).ok).toBe(true);
        if (h.backend !== 'sqlite') return;
        // raw bytes of the file, no SQLite locking at all (the row's page is in the main file)
        (h.store as SqliteEventStore).db.pragma('wal_checkpoint(TRUNCATE)');
        const file = h.file!;
        const bytes = fs.readFileSync(file);
        const needle = Buffer.from('"0x0000000000000011"');
        const at = bytes.indexOf(needle);
        expect(at).toBeGreaterThan(0);
        bytes[at + needle.length - 2] = '7'.charCodeAt(0);
        fs.writeFileSync(file, bytes);
        expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 17 });
      });

      test('a rewritten chain is caught by an anchored head', async () => {
        const anchor = { position: 15, hash: await hashAt(h, 15) };
        // rewrite event 3 and recompute every hash after it (what a careful forger does)
        await h.sql('UPDATE events SET data = \'{"n":666}\' WHERE position = 3');
        const [two] = await h.sql('SELECT hash FROM events WHERE position = 2');
        let prev = two!.hash as Buffer;
        const rows = (await h.sql('SELECT * FROM events WHERE position >= 3 ORDER BY position')) as Array<{
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
          await h.sql('UPDATE events SET hash = ? WHERE position = ?', [prev, r.position]);
        }
        // PostgreSQL also keeps the head's hash (event_head): the careful forger rewrites it too
        if (h.backend === 'postgres') await h.sql('UPDATE event_head SET hash = ?', [prev]);
        expect((await h.store.verify()).ok).toBe(true);
        expect(await h.store.verify(anchor)).toMatchObject({ ok: false, firstBrokenPosition: 15 });
        expect(await h.store.verify({ position: 99, hash: anchor.hash })).toMatchObject({
          ok: false,
          firstBrokenPosition: 99,
        });
      });

      test('a rewritten chain whose head row was not rewritten (PostgreSQL keeps the head hash)', async () => {
        if (h.backend !== 'postgres') return;
        await h.sql('UPDATE event_head SET hash = ?', [randomBytes(32)]);
        expect(await h.store.verify()).toMatchObject({ ok: false, firstBrokenPosition: 20 });
      });
    });
  }),
);
