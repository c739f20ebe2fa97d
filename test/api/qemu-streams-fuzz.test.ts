import fc from 'fast-check';
import * as fs from 'fs';
import * as path from 'path';
import request from 'supertest';
import * as zlib from 'zlib';
import { makeTestApp, type TestApp } from '../helpers/app';

/** Mutated real QEMU streams through inspect, import and rewrite: never a 5xx, and a refusal changes nothing. */
const stream = zlib.gunzipSync(fs.readFileSync(path.join(__dirname, '../fixtures/qemu/aarch64-max-smp2.mig.gz')));
// the device tail (where the cpu sections are) is the last ~50 KB; mutate there most of the time
const tailStart = stream.length - 50_000;

let t: TestApp;
beforeAll(async () => {
  t = makeTestApp();
  const ok = await request(t.app)
    .post('/v1/qemu-streams/import?vm=fz')
    .set('content-type', 'application/octet-stream')
    .send(stream);
  expect(ok.status).toBe(200);
});
afterAll(() => t.close());

const events = async () => (await t.store.readAll(0, 1000)).lastPosition;

test('mutated streams: inspect, import, rewrite never answer 5xx; refusals record nothing', async () => {
  const mutation = fc.oneof(
    fc.record({
      kind: fc.constant('flip' as const),
      at: fc.integer({ min: tailStart, max: stream.length - 1 }),
      bit: fc.integer({ min: 0, max: 7 }),
    }),
    fc.record({
      kind: fc.constant('flip-anywhere' as const),
      at: fc.integer({ min: 0, max: stream.length - 1 }),
      bit: fc.integer({ min: 0, max: 7 }),
    }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.integer({ min: 0, max: stream.length - 1 }) }),
    fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ minLength: 0, maxLength: 4096 }) }),
  );
  const route = fc.constantFrom(
    '/v1/qemu-streams/inspect',
    '/v1/qemu-streams/import?vm=fz',
    '/v1/qemu-streams/import?vm=fz2',
    '/v1/qemu-streams/rewrite?vm=fz',
  );
  const statuses: Record<number, number> = {};
  await fc.assert(
    fc.asyncProperty(mutation, route, async (m, url) => {
      let body: Buffer;
      if (m.kind === 'flip' || m.kind === 'flip-anywhere') {
        body = Buffer.from(stream);
        body[m.at] = body[m.at]! ^ (1 << m.bit);
      } else if (m.kind === 'cut') body = stream.subarray(0, m.at);
      else if (m.kind === 'append') body = Buffer.concat([stream, Buffer.from(m.bytes)]);
      else body = Buffer.from(m.bytes);
      const before = await events();
      const res = await request(t.app)
        .post(url)
        .set('content-type', 'application/octet-stream')
        .send(body)
        .buffer(true);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      expect(res.status).toBeLessThan(500);
      if (res.status >= 400) {
        expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
        expect(await events()).toBe(before);
      }
    }),
    { numRuns: 250, seed: 4242 },
  );
  expect((await request(t.app).get('/v1/audit/verify')).body.ok).toBe(true);
  console.log('stream fuzz statuses', statuses);
}, 120_000);
