/**
 * What reads serve besides the log — snapshots, stream heads, labels — edited through SQLite
 * directly: reads still serve what the events hold, and /v1/audit/verify reports the edit.
 */
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import request from 'supertest';
import { makeTestApp, type TestApp } from '../helpers/app';

const json = 'application/json';
const TPIDR_EL0 = '0x603000000013de82';
let t: TestApp;
const api = () => request(t.app);

beforeEach(async () => {
  t = makeTestApp({ snapshotEvery: 5 });
  const c = await api()
    .post('/v1/cpus')
    .set('content-type', json)
    .send({ id: 'c', accelerator: 'hvf', labels: { vm: 'a' } });
  expect(c.status).toBe(201);
  for (let v = 1; v <= 6; v++) {
    const r = await api()
      .put(`/v1/cpus/c/registers/${TPIDR_EL0}`)
      .set('content-type', json)
      .send({ value: `0x${v}` });
    expect(r.status).toBe(200);
  }
  await t.service.whenDurable();
  await new Promise((r) => setTimeout(r, 20)); // the snapshot at version 5 is written after the answers
});
afterEach(() => t.close());

const tpidr = async (path = '/v1/cpus/c') =>
  ((await api().get(path)).body.registers as Array<{ id: string; value: string }>).find((r) => r.id === TPIDR_EL0)!
    .value;

function raw<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(t.dbFile);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

describe('a snapshot is bound to the log', () => {
  test('its state edited with the checksum recomputed: reads serve the events, verify names the snapshot', async () => {
    const row = raw(
      (db) =>
        db
          .prepare("SELECT version, data, event_hash, checksum FROM snapshots WHERE stream_id = 'c' AND version = 5")
          .get() as {
          version: number;
          data: string;
          event_hash: Buffer;
          checksum: Buffer;
        },
    );
    expect(row.data).toContain('"4"');
    const forged = row.data.replace('"4"', '"3735928559"');
    // the best a writer of the database can do: the documented unkeyed checksum, behind the seal's key id
    const plain = createHash('sha256').update(row.event_hash).update('1\n').update(forged).digest();
    raw((db) =>
      db
        .prepare("UPDATE snapshots SET data = ?, checksum = ? WHERE stream_id = 'c' AND version = 5")
        .run(forged, Buffer.concat([row.checksum.subarray(0, 8), plain])),
    );
    const v = (await api().get('/v1/audit/verify')).body;
    expect(v.ok).toBe(false);
    expect(v.reason).toMatch(/snapshot of c at version 5/);
    expect(v.derived.problems).toEqual([
      expect.objectContaining({ streamId: 'c', version: 5, what: 'snapshot', detail: expect.stringMatching(/seal/) }),
    ]);
    t.service.states.clear();
    const skipped = t.store.stats.snapshotsSkipped;
    expect(await tpidr('/v1/cpus/c?version=5')).toBe('0x0000000000000004');
    expect(await tpidr()).toBe('0x0000000000000006');
    expect(t.store.stats.snapshotsSkipped).toBeGreaterThan(skipped);
    // the load that folded past it wrote the snapshot again, from the events
    await new Promise((r) => setTimeout(r, 20));
    expect((await api().get('/v1/audit/verify')).body.ok).toBe(true);
  });

  test('a state edited and resealed by a process with the key (or a bug) is still caught by the fold', async () => {
    // the seal holds for whatever this process writes: only the fold can tell a wrong state
    const data = raw(
      (db) => db.prepare("SELECT data FROM snapshots WHERE stream_id = 'c' AND version = 5").pluck().get() as string,
    );
    await t.store.putSnapshot({
      streamId: 'c',
      version: 5,
      schemaVersion: 1,
      data: JSON.parse(data.replace('"4"', '"3735928559"')),
    });
    const v = (await api().get('/v1/audit/verify')).body;
    expect(v.ok).toBe(false);
    expect(v.derived.problems).toEqual([
      expect.objectContaining({ version: 5, what: 'snapshot', detail: expect.stringMatching(/not the fold/) }),
    ]);
  });

  test('the untouched store passes, snapshots checked', async () => {
    const v = (await api().get('/v1/audit/verify')).body;
    expect(v.ok).toBe(true);
    expect(v.derived).toEqual({ ok: true, streams: 1, snapshots: 1, problems: [] });
  });
});

describe('stream heads are the log', () => {
  test('a lowered streams.version: reads show the newest event and the next write lands after it', async () => {
    raw((db) => db.prepare("UPDATE streams SET version = version - 1 WHERE stream_id = 'c'").run());
    t.service.states.clear();
    const got = await api().get('/v1/cpus/c');
    expect(got.body.version).toBe(7);
    expect(await tpidr()).toBe('0x0000000000000006');
    const w = await api().put(`/v1/cpus/c/registers/${TPIDR_EL0}`).set('content-type', json).send({ value: '0x7' });
    expect(w.status).toBe(200);
    expect(w.headers.etag).toBe('"8"');
    expect(await tpidr()).toBe('0x0000000000000007');
    expect(
      (await api().get('/v1/cpus/c/events?after=6')).body.events.map((e: { version: number }) => e.version),
    ).toEqual([7, 8]);
  });
});

describe('a streams row without events', () => {
  test('is no vCPU, and a create of that id is one (not a 500)', async () => {
    raw((db) =>
      db
        .prepare(
          "INSERT INTO streams (stream_id, version, created_at, updated_at, labels, kind) VALUES ('ghost', 3, 'x', 'x', '{}', 'vcpu')",
        )
        .run(),
    );
    t.service.states.clear();
    expect((await api().get('/v1/cpus/ghost')).status).toBe(404);
    const c = await api()
      .post('/v1/cpus')
      .set('content-type', json)
      .send({ id: 'ghost', accelerator: 'tcg', registers: [TPIDR_EL0] });
    expect(c.status).toBe(201);
    expect((await api().get('/v1/cpus/ghost')).body.version).toBe(1);
  });
});

describe('labels are events', () => {
  test("a listing's labels edited: the listing filters on the events' labels, verify reports the row", async () => {
    raw((db) => {
      db.prepare(`UPDATE streams SET labels = '{"vm":"b"}' WHERE stream_id = 'c'`).run();
      db.prepare("UPDATE stream_labels SET value = 'b' WHERE stream_id = 'c' AND key = 'vm'").run();
    });
    t.service.states.clear();
    const b = (await api().get('/v1/cpus?label=vm=b')).body;
    expect(b.items).toEqual([]);
    expect((await api().get('/v1/cpus/c')).body.labels).toEqual({ vm: 'a' });
    const v = (await api().get('/v1/audit/verify')).body;
    expect(v.ok).toBe(false);
    expect(v.derived.problems).toEqual([
      expect.objectContaining({ streamId: 'c', what: 'labels', detail: expect.stringMatching(/"vm":"b".*"vm":"a"/) }),
    ]);
  });
});
