import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import request from 'supertest';
import { makeTestApp, type TestApp } from '../helpers/app';

/**
 * What every write endpoint promises about retries and conditions: concurrent repeats of one
 * Idempotency-Key have one effect and identical answers (status, body, ETag), whichever racer
 * won; If-Match and If-None-Match behave as RFC 9110 says; a known path with another method is
 * a 405 with Allow.
 */

const json = 'application/json';
const TPIDR_EL0 = '0x603000000013de82';
const SCTLR_EL1 = '0x603000000013c080';
const TCG_REGS = [SCTLR_EL1, '0x603000000013c100', TPIDR_EL0];
const FIXTURES = path.resolve(__dirname, '../fixtures/qemu');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));

let t: TestApp;
beforeEach(() => {
  // six concurrent stream uploads: above the default cap of 4 (that cap has tests of its own)
  t = makeTestApp({ limits: { maxStreamUploads: 16 } });
});
afterEach(() => t.close());
const api = () => request(t.app);

const createTcg = (id: string) =>
  api().post('/v1/cpus').set('content-type', json).send({ id, accelerator: 'tcg', registers: TCG_REGS });

const eventCount = async () => (await t.store.readAll(0, 100000)).events.length;

/** A request of the endpoint under test, made afresh each time (supertest runs it when awaited). */
type Make = (key: string) => request.Test;

interface Endpoint {
  name: string;
  setup?: () => Promise<unknown>;
  make: Make;
  /** Events one effect records. */
  effect: number;
}

const blob = () => fixture('aarch64-cortex-a57.cpu0.v22.bin');

const endpoints: Endpoint[] = [
  {
    name: 'POST /v1/cpus (JSON, with an id)',
    make: (k) =>
      api()
        .post('/v1/cpus')
        .set('content-type', json)
        .set('idempotency-key', k)
        .send({ id: 'c1', accelerator: 'tcg', registers: TCG_REGS }),
    effect: 1,
  },
  {
    name: 'POST /v1/cpus (JSON, the service picks the id)',
    make: (k) =>
      api()
        .post('/v1/cpus')
        .set('content-type', json)
        .set('idempotency-key', k)
        .send({ accelerator: 'tcg', registers: TCG_REGS }),
    effect: 1,
  },
  {
    name: 'POST /v1/cpus (a v22 blob, with an id)',
    make: (k) =>
      api()
        .post('/v1/cpus?format=v22&accelerator=tcg&id=b1')
        .set('content-type', 'application/octet-stream')
        .set('idempotency-key', k)
        .send(blob()),
    effect: 1,
  },
  {
    name: 'POST /v1/cpus (a v22 blob, the service picks the id)',
    make: (k) =>
      api()
        .post('/v1/cpus?format=v22&accelerator=tcg')
        .set('content-type', 'application/octet-stream')
        .set('idempotency-key', k)
        .send(blob()),
    effect: 1,
  },
  {
    name: 'PUT /v1/cpus/{id}/registers/{reg}',
    setup: () => createTcg('c1'),
    make: (k) =>
      api()
        .put('/v1/cpus/c1/registers/TPIDR_EL0')
        .set('content-type', json)
        .set('idempotency-key', k)
        .send({ value: '0x1234' }),
    effect: 1,
  },
  {
    name: 'PATCH /v1/cpus/{id}/registers',
    setup: () => createTcg('c1'),
    make: (k) =>
      api()
        .patch('/v1/cpus/c1/registers')
        .set('content-type', json)
        .set('idempotency-key', k)
        .send({ values: { TPIDR_EL0: '0x5', SCTLR_EL1: '0x30d00800' } }),
    effect: 1,
  },
  {
    name: 'POST /v1/cpus/{id}/syncs (from the accelerator)',
    setup: () => createTcg('c1'),
    make: (k) =>
      api()
        .post('/v1/cpus/c1/syncs')
        .set('content-type', json)
        .set('idempotency-key', k)
        .send({ direction: 'from-accelerator', values: { TPIDR_EL0: '0x77' } }),
    effect: 1,
  },
  {
    name: 'POST /v1/cpus/{id}/syncs (to the accelerator)',
    setup: () => createTcg('c1'),
    make: (k) =>
      api()
        .post('/v1/cpus/c1/syncs')
        .set('content-type', json)
        .set('idempotency-key', k)
        .send({ direction: 'to-accelerator' }),
    effect: 1,
  },
  {
    name: 'PUT /v1/cpus/{id}/migration',
    setup: () =>
      api()
        .post('/v1/cpus?format=v22&accelerator=tcg&id=b1')
        .set('content-type', 'application/octet-stream')
        .send(blob()),
    make: (k) =>
      api()
        .put('/v1/cpus/b1/migration?format=v22')
        .set('content-type', 'application/octet-stream')
        .set('idempotency-key', k)
        .send(blob()),
    effect: 1,
  },
  {
    name: 'POST /v1/qemu-streams/import (two vCPUs)',
    make: (k) =>
      api()
        .post('/v1/qemu-streams/import?vm=web1')
        .set('content-type', 'application/octet-stream')
        .set('idempotency-key', k)
        .send(zlib.gunzipSync(fixture('aarch64-max-smp2.mig.gz'))),
    effect: 2,
  },
];

describe('Idempotency-Key: concurrent repeats have one effect and identical answers', () => {
  test.each(endpoints)('$name', async (e) => {
    await e.setup?.();
    const before = await eventCount();
    const answers = await Promise.all(Array.from({ length: 6 }, () => e.make('the-key')));
    const first = answers[0]!;
    expect(first.status).toBeLessThan(300);
    for (const a of answers) {
      expect(a.status).toBe(first.status);
      expect(a.text).toBe(first.text);
      expect(a.headers.etag).toBe(first.headers.etag);
      expect(a.headers.location).toBe(first.headers.location);
    }
    expect(answers.filter((a) => a.headers['idempotent-replayed'] !== 'true')).toHaveLength(1);
    expect(await eventCount()).toBe(before + e.effect);
    // a later repeat, sequential, still answers the same
    const later = await e.make('the-key');
    expect([later.status, later.text, later.headers['idempotent-replayed']]).toEqual([
      first.status,
      first.text,
      'true',
    ]);
    expect(await eventCount()).toBe(before + e.effect);
  });

  test('the same key with another request is a 422 and records nothing', async () => {
    await createTcg('c1');
    const put = (v: string) =>
      api()
        .put('/v1/cpus/c1/registers/TPIDR_EL0')
        .set('content-type', json)
        .set('idempotency-key', 'k2')
        .send({ value: v });
    expect((await put('0x1')).status).toBe(200);
    const before = await eventCount();
    const other = await put('0x2');
    expect(other.status).toBe(422);
    expect(other.body.type).toBe('urn:cpreg-ledger:problem:idempotency-key-reused');
    expect(await eventCount()).toBe(before);
  });

  test('a refused request keeps no key: its retry, corrected, is a fresh request', async () => {
    await createTcg('c1');
    const bad = await api()
      .patch('/v1/cpus/c1/registers')
      .set('content-type', json)
      .set('idempotency-key', 'k3')
      .send({ values: { NOPE_EL9: '0x1' } });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(await t.store.findIdempotency('k3')).toBeUndefined();
  });
});

const put = (cond: Record<string, string>, v = '0x1') =>
  api().put('/v1/cpus/c1/registers/TPIDR_EL0').set('content-type', json).set(cond).send({ value: v });

describe('If-Match (RFC 9110 §13.1.1: strong comparison)', () => {
  beforeEach(() => createTcg('c1'));

  test('a list matches when any listed version is current', async () => {
    expect((await put({ 'if-match': '"1", "2"' })).status).toBe(200);
    expect((await put({ 'if-match': '"9", "2" ,"17"' })).status).toBe(200);
    const stale = await put({ 'if-match': '"1", "2"' });
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ type: 'urn:cpreg-ledger:problem:precondition-failed', actualVersion: 3 });
  });

  test('a weak tag never matches; a tag of another form never matches; * matches an existing vCPU', async () => {
    const weak = await put({ 'if-match': 'W/"1"' });
    expect(weak.status).toBe(412);
    expect((await put({ 'if-match': '"abc"' })).status).toBe(412);
    expect((await put({ 'if-match': '*' })).status).toBe(200);
    expect((await t.service.queries.get('c1')).version).toBe(2);
  });

  test('* on a missing vCPU is a 412, not a 404; malformed tags are a 400', async () => {
    const missing = await api()
      .put('/v1/cpus/nope/registers/TPIDR_EL0')
      .set('content-type', json)
      .set('if-match', '*')
      .send({ value: '0x1' });
    expect(missing.status).toBe(412);
    expect((await put({ 'if-match': '1' })).status).toBe(400);
    expect((await put({ 'if-match': '"1' })).status).toBe(400);
    expect((await put({ 'if-match': '"1" "2"' })).status).toBe(400);
    expect((await t.service.queries.get('c1')).version).toBe(1);
  });
});

describe('If-None-Match (RFC 9110 §13.1.2: weak comparison)', () => {
  test('a write with * creates only what does not exist', async () => {
    const make = () =>
      api()
        .post('/v1/cpus')
        .set('content-type', json)
        .set('if-none-match', '*')
        .send({ id: 'c1', accelerator: 'tcg', registers: TCG_REGS });
    expect((await make()).status).toBe(201);
    const again = await make();
    expect(again.status).toBe(412);
    expect(await eventCount()).toBe(1);
  });

  test('a write naming the current version is refused; another version lets it through', async () => {
    await createTcg('c1');
    expect((await put({ 'if-none-match': 'W/"1"' })).status).toBe(412);
    expect((await put({ 'if-none-match': '"5"' })).status).toBe(200);
  });

  test('a read naming the current version is a 304 with the ETag; otherwise the representation', async () => {
    await createTcg('c1');
    for (const p of ['/v1/cpus/c1', '/v1/cpus/c1/arrays']) {
      const same = await api().get(p).set('if-none-match', '"1"');
      expect([same.status, same.headers.etag, same.text]).toEqual([304, '"1"', '']);
      expect((await api().get(p).set('if-none-match', 'W/"1", "7"')).status).toBe(304);
      expect((await api().get(p).set('if-none-match', '*')).status).toBe(304);
      const other = await api().get(p).set('if-none-match', '"7"');
      expect([other.status, other.headers.etag]).toEqual([200, '"1"']);
    }
    expect((await api().get('/v1/cpus/c1').set('if-match', '"3"')).status).toBe(412);
  });
});

describe('405 for a known path with another method', () => {
  test.each([
    ['delete', '/v1/cpus/c1', 'GET, HEAD'],
    ['put', '/v1/cpus', 'GET, HEAD, POST'],
    ['post', '/v1/events', 'GET, HEAD'],
    ['get', '/v1/cpus/c1/registers', 'PATCH'],
    ['get', '/v1/qemu-streams/import', 'POST'],
    ['delete', '/v1/cpus/c1/migration', 'GET, HEAD, PUT'],
  ] as const)('%s %s → Allow: %s', async (method, p, allow) => {
    const r = await api()[method](p);
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe(allow);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.body.type).toBe('urn:cpreg-ledger:problem:method-not-allowed');
  });

  test('an unknown path is still a 404', async () => {
    expect((await api().delete('/v1/nothing-here')).status).toBe(404);
  });
});

describe('recording who took a blob', () => {
  test('the same blob exported again with nothing recorded since is not recorded again', async () => {
    await createTcg('c1');
    const exportIt = () => api().get('/v1/cpus/c1/migration?format=v22').buffer(true);
    const first = await exportIt();
    expect([first.status, first.headers.etag]).toEqual([200, '"2"']);
    for (let k = 0; k < 20; k++) {
      const again = await exportIt();
      expect([again.status, again.headers.etag]).toEqual([200, '"2"']);
      expect(Buffer.compare(again.body as Buffer, first.body as Buffer)).toBe(0);
    }
    expect(await eventCount()).toBe(2);
    // another format is another blob; a write makes the next export a new record
    expect((await api().get('/v1/cpus/c1/migration?format=v23')).headers.etag).toBe('"3"');
    await put({}, '0x5');
    expect((await exportIt()).headers.etag).toBe('"5"');
    expect(await eventCount()).toBe(5);
  });
});

describe('trace context', () => {
  test('a valid traceparent is recorded in the event metadata; an invalid one is ignored', async () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await api()
      .post('/v1/cpus')
      .set('content-type', json)
      .set('traceparent', tp)
      .send({ id: 'c1', accelerator: 'tcg', registers: TCG_REGS });
    await put({ traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }, '0x2');
    const events = (await api().get('/v1/cpus/c1/events')).body.events;
    expect(events[0].metadata.traceparent).toBe(tp);
    expect(events[1].metadata.traceparent).toBeUndefined();
  });

  test('/readyz answers ready when the database reads and nothing failed', async () => {
    const r = await api().get('/readyz');
    expect([r.status, r.body.status, r.body.database]).toEqual([200, 'ready', 'ok']);
  });
});
