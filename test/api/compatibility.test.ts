import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import request from 'supertest';
import { makeTestApp, type TestApp } from '../helpers/app';

/** The matrix over real QEMU 7.2 streams: a vCPU and host profiles made from idle streams. */

const stream = (name: string) =>
  zlib.gunzipSync(fs.readFileSync(path.resolve(__dirname, '../fixtures/qemu', `${name}.mig.gz`)));
const OCTET = 'application/octet-stream';
let t: TestApp;
beforeAll(async () => {
  t = makeTestApp({ limits: { maxStreamUploads: 16 } });
  const api = request(t.app);
  for (const [vm, f] of [
    ['a57', 'aarch64-cortex-a57'],
    ['max', 'aarch64-max-smp2'],
  ] as const) {
    expect((await api.post(`/v1/qemu-streams/import?vm=${vm}`).set('content-type', OCTET).send(stream(f))).status).toBe(
      200,
    );
  }
  for (const [id, f, model] of [
    ['host-a57', 'aarch64-cortex-a57', 'cortex-a57'],
    ['host-a53', 'aarch64-cortex-a53', 'cortex-a53'],
  ] as const) {
    const r = await api
      .put(`/v1/host-profiles/${id}?qemu=7.2&cpuModel=${model}&label=site=lab`)
      .set('content-type', OCTET)
      .send(stream(f));
    expect(r.status).toBe(201);
  }
});
afterAll(() => t.close());
const api = () => request(t.app);

type Pair = {
  cpu: string;
  hostProfile: string;
  verdict: string;
  reasons: Array<{ rule: string; registers: unknown[] }>;
};

test('a vCPU loads on a host of its own model; a larger list is refused on the count; another model on its constants', async () => {
  const m = await api()
    .post('/v1/compatibility')
    .set('content-type', 'application/json')
    .send({ cpus: ['a57.cpu0', 'max.cpu0'], hostProfiles: { label: { site: 'lab' } } });
  expect(m.status).toBe(200);
  expect(m.body.cpus).toEqual(['a57.cpu0', 'max.cpu0']);
  expect(m.body.hostProfiles).toEqual(['host-a53', 'host-a57']);
  const pair = (c: string, h: string) => (m.body.pairs as Pair[]).find((p) => p.cpu === c && p.hostProfile === h)!;
  expect(pair('a57.cpu0', 'host-a57')).toMatchObject({ verdict: 'accepted', reasons: [] });
  expect(pair('max.cpu0', 'host-a57').verdict).toBe('refused');
  expect(pair('max.cpu0', 'host-a57').reasons[0]!.rule).toBe('more-registers');
  const other = pair('a57.cpu0', 'host-a53');
  expect(other.verdict).toBe('refused');
  expect(['constant-differs', 'unknown-register', 'more-registers']).toContain(other.reasons[0]!.rule);
  expect(other.reasons[0]!.registers.length).toBeGreaterThan(0);
});

test('GET /v1/cpus/{id}/compatibility: every profile with its verdict, named registers', async () => {
  const r = await api().get('/v1/cpus/a57.cpu0/compatibility');
  expect(r.status).toBe(200);
  expect(r.body.pairs.map((p: Pair) => [p.hostProfile, p.verdict])).toEqual([
    ['host-a53', 'refused'],
    ['host-a57', 'accepted'],
  ]);
  const reg = r.body.pairs[0].reasons[0].registers[0];
  expect(reg).toMatchObject({
    id: expect.stringMatching(/^0x[0-9a-f]{16}$/),
    name: expect.any(String),
    generic: false,
  });
  expect((await api().get('/v1/cpus/nope/compatibility')).status).toBe(404);
});

test('refusals: unknown ids are 404, bad selectors 400', async () => {
  expect(
    (
      await api()
        .post('/v1/compatibility')
        .set('content-type', 'application/json')
        .send({ cpus: ['nope'] })
    ).status,
  ).toBe(404);
  expect(
    (await api().post('/v1/compatibility').set('content-type', 'application/json').send({ cpus: 'a57.cpu0' })).status,
  ).toBe(400);
});
