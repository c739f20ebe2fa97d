import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import request from 'supertest';
import { makeTestApp, type TestApp } from '../helpers/app';

const json = 'application/json';
const OCTET = 'application/octet-stream';
const fixture = (name: string) => fs.readFileSync(path.resolve(__dirname, '../fixtures/qemu', name));
let t: TestApp;
beforeEach(() => {
  t = makeTestApp();
});
afterEach(() => t.close());
const api = () => request(t.app);

const body = (over: Record<string, unknown> = {}) => ({
  accelerator: 'tcg',
  qemu: '10.0',
  cpuModel: 'cortex-a57',
  registers: { '0x603000000013c000': '0x411fd070', '0x603000000013de82': '0x0' },
  labels: { rack: 'r1' },
  ...over,
});

describe('host profiles', () => {
  test('PUT from JSON: 201 with Location and ETag; the same again records nothing; a change is an event', async () => {
    const a = await api().put('/v1/host-profiles/h1').set('content-type', json).send(body());
    expect([a.status, a.headers.etag, a.headers.location]).toEqual([201, '"1"', '/v1/host-profiles/h1']);
    expect(a.body).toMatchObject({ id: 'h1', version: 1, qemu: '10.0', cpuModel: 'cortex-a57', arrayLen: 2 });
    expect(a.body.registers['0x603000000013c000']).toBe('0x00000000411fd070');
    const same = await api().put('/v1/host-profiles/h1').set('content-type', json).send(body());
    expect([same.status, same.body.version]).toEqual([200, 1]);
    const changed = await api()
      .put('/v1/host-profiles/h1')
      .set('content-type', json)
      .set('if-match', '"1"')
      .send(body({ labels: { rack: 'r2' } }));
    expect([changed.status, changed.headers.etag]).toEqual([200, '"2"']);
    const stale = await api().put('/v1/host-profiles/h1').set('content-type', json).set('if-match', '"1"').send(body());
    expect(stale.status).toBe(412);
    const feed = (await api().get('/v1/events?after=0')).body.events;
    expect(feed.map((e: { type: string; streamId: string }) => [e.type, e.streamId])).toEqual([
      ['HostProfileSet', 'host-profile/h1'],
      ['HostProfileSet', 'host-profile/h1'],
    ]);
    expect((await api().get('/v1/host-profiles/h1?version=1')).body.labels).toEqual({ rack: 'r1' });
    expect((await api().get('/v1/host-profiles/h1')).body.labels).toEqual({ rack: 'r2' });
  });

  test('listed by label, and never among the vCPUs', async () => {
    await api().put('/v1/host-profiles/h1').set('content-type', json).send(body());
    await api()
      .put('/v1/host-profiles/h2')
      .set('content-type', json)
      .send(body({ labels: { rack: 'r2' } }));
    await api()
      .post('/v1/cpus')
      .set('content-type', json)
      .send({ id: 'c1', accelerator: 'tcg', registers: ['0x603000000013de82'] });
    const all = await api().get('/v1/host-profiles');
    expect(all.body.items.map((i: { id: string }) => i.id)).toEqual(['h1', 'h2']);
    const r2 = await api().get('/v1/host-profiles?label=rack=r2');
    expect(r2.body.items.map((i: { id: string }) => i.id)).toEqual(['h2']);
    expect((await api().get('/v1/cpus')).body.items.map((i: { id: string }) => i.id)).toEqual(['c1']);
    expect((await api().get('/v1/host-profiles/nope')).status).toBe(404);
  });

  test('PUT from an idle stream of the host: its list, its values and its machine type', async () => {
    const stream = zlib.gunzipSync(fixture('aarch64-cortex-a57.mig.gz'));
    const r = await api()
      .put('/v1/host-profiles/a57?qemu=7.2&cpuModel=cortex-a57&label=site=lab')
      .set('content-type', OCTET)
      .send(stream);
    expect(r.status).toBe(201);
    const block = fixture('aarch64-cortex-a57.cpu0.v22.bin');
    expect(r.body.arrayLen).toBe(block.readUInt32BE(0));
    expect(r.body.machine).toMatch(/^virt/);
    expect(r.body.labels).toEqual({ site: 'lab' });
    const source = (await api().get('/v1/events?after=0')).body.events[0].data.source;
    expect(source).toMatchObject({ kind: 'stream', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  test('refusals: bad body, unknown media type, bad id; nothing recorded', async () => {
    expect(
      (
        await api()
          .put('/v1/host-profiles/h1')
          .set('content-type', json)
          .send(body({ qemu: 'ten' }))
      ).status,
    ).toBe(400);
    expect(
      (
        await api()
          .put('/v1/host-profiles/h1')
          .set('content-type', json)
          .send(body({ registers: {} }))
      ).status,
    ).toBe(400);
    expect((await api().put('/v1/host-profiles/h1').set('content-type', 'text/plain').send('x')).status).toBe(415);
    expect((await api().put('/v1/host-profiles/bad%2Fid').set('content-type', json).send(body())).status).toBe(400);
    expect((await t.store.readAll(0, 10)).events).toHaveLength(0);
  });

  test('Idempotency-Key: concurrent repeats, one effect, identical answers', async () => {
    const send = () =>
      api().put('/v1/host-profiles/h1').set('content-type', json).set('idempotency-key', 'k').send(body());
    const answers = await Promise.all([send(), send(), send(), send()]);
    expect(new Set(answers.map((a) => `${a.status} ${a.text}`)).size).toBe(1);
    expect((await t.store.readAll(0, 10)).events).toHaveLength(1);
  });
});
