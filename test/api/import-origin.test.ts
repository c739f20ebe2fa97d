import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import request from 'supertest';
import { makeTestApp, type TestApp } from '../helpers/app';

/** An import records what the stream says: machine type, page size, cpu index; usable as labels. */

const stream = zlib.gunzipSync(fs.readFileSync(path.resolve(__dirname, '../fixtures/qemu/aarch64-max-smp2.mig.gz')));
let t: TestApp;
beforeEach(() => {
  t = makeTestApp();
});
afterEach(() => t.close());
const api = () => request(t.app);
const importAs = (q: string) =>
  api().post(`/v1/qemu-streams/import?${q}`).set('content-type', 'application/octet-stream').send(stream);

test('created vCPUs carry the stream origin as labels and in their creation event', async () => {
  const machine = (
    await api().post('/v1/qemu-streams/inspect').set('content-type', 'application/octet-stream').send(stream)
  ).body.machine as string;
  expect(machine).toMatch(/^virt/);
  expect((await importAs('vm=web1&label=team=kernel&label=tier=gold')).status).toBe(200);

  const cpu1 = await api().get('/v1/cpus/web1.cpu1');
  expect(cpu1.body.labels).toEqual({
    vm: 'web1',
    team: 'kernel',
    tier: 'gold',
    'qemu.machine': machine,
    'qemu.page-size': '4096',
    'qemu.cpu-index': '1',
  });
  const created = (await api().get('/v1/cpus/web1.cpu1/events')).body.events[0];
  expect(created.type).toBe('VcpuCreated');
  expect(created.data.source).toMatchObject({
    kind: 'blob',
    format: 'v22',
    origin: { machine, pageSize: 4096, cpuIndex: 1 },
  });

  const byVm = await api().get('/v1/cpus?label=vm=web1');
  expect(byVm.body.items.map((i: { id: string }) => i.id)).toEqual(['web1.cpu0', 'web1.cpu1']);
  const byIndex = await api().get('/v1/cpus?label=vm=web1&label=qemu.cpu-index=0');
  expect(byIndex.body.items.map((i: { id: string }) => i.id)).toEqual(['web1.cpu0']);
  expect((await api().get(`/v1/cpus?label=qemu.machine=${machine}`)).body.items).toHaveLength(2);
  expect((await api().get('/v1/cpus?label=vm=web2')).body.items).toHaveLength(0);
});

test('a load into an existing vCPU records the origin in its BlobLoaded event', async () => {
  expect((await importAs('vm=web1')).status).toBe(200);
  expect((await importAs('vm=web1')).status).toBe(200);
  const events = (await api().get('/v1/cpus/web1.cpu0/events')).body.events;
  expect(events.map((e: { type: string }) => e.type)).toEqual(['VcpuCreated', 'BlobLoaded']);
  expect(events[1].data.origin).toMatchObject({ pageSize: 4096, cpuIndex: 0 });
});

test('a bad label is a 400 and records nothing', async () => {
  expect((await importAs('vm=web1&label=nonsense')).status).toBe(400);
  expect((await importAs('vm=web1&label=%20bad=1')).status).toBe(422);
  expect((await t.store.readAll(0, 10)).events).toHaveLength(0);
});
