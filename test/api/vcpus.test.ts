import * as http from 'http';
import request from 'supertest';
import { decodeV22 } from '../../domain/vmstate/v22';
import { decodeV23 } from '../../domain/vmstate/v23';
import { kvmKernelList, makeTestApp, type TestApp } from '../helpers/app';
import { kvmList } from '../helpers/kvm-list';

/** Registers QEMU keeps of the KVM list the tests create from (kernel's, or the fixture-made one). */
const K = kvmList().kept;

const TPIDR_EL0 = '0x603000000013de82';
const SCTLR_EL1 = '0x603000000013c080';
const FW_U2048 = '0x6080000000140100';
const json = 'application/json';

let t: TestApp;
beforeEach(() => {
  t = makeTestApp();
});
afterEach(() => t.close());

const api = () => request(t.app);
const createKvm = (id = 'vm1.cpu0', extra: string[] = []) =>
  api()
    .post('/v1/cpus')
    .set('content-type', json)
    .send({ id, accelerator: 'kvm', registers: [...kvmKernelList(), ...extra], labels: { vm: 'vm1' } });

function expectProblem(res: request.Response, status: number, kind: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: `urn:cpreg-ledger:problem:${kind}`, status });
  expect(typeof res.body.title).toBe('string');
  expect(typeof res.body.detail).toBe('string');
}

describe('service', () => {
  test('healthz and the contract', async () => {
    expect((await api().get('/healthz')).body).toEqual({ status: 'ok' });
    const c = await api().get('/openapi.yaml');
    expect(c.status).toBe(200);
    expect(c.text).toMatch(/^openapi: 3\.1/);
  });
});

describe('create and read', () => {
  test('KVM from a kernel list: 201, Location, ETag, the arrays QEMU keeps', async () => {
    const res = await createKvm('vm1.cpu0', [FW_U2048]);
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe('/v1/cpus/vm1.cpu0');
    expect(res.headers.etag).toBe('"1"');
    expect(res.body).toMatchObject({
      id: 'vm1.cpu0',
      accelerator: 'kvm',
      version: 1,
      labels: { vm: 'vm1' },
      arrayLen: K + 1,
      valueArrayLen: K + 32,
    });
    const reg = res.body.registers.find((r: { id: string }) => r.id === FW_U2048);
    expect(reg).toMatchObject({ size: 256, slots: 32, value: '0x' + '0'.repeat(512) });
    expect(res.body.registers.find((r: { id: string }) => r.id === TPIDR_EL0)).toMatchObject({
      name: 'TPIDR_EL0',
      size: 8,
      slots: 1,
    });
    const arrays = await api().get('/v1/cpus/vm1.cpu0/arrays');
    expect(arrays.body.cpregIndexes).toHaveLength(K + 1);
    expect(arrays.body.cpregValues).toHaveLength(K + 32);
    expect(arrays.body.cpregValueIndexes[K]).toBe(arrays.body.cpregValueIndexes[K - 1] + 1);
  });

  test('a generated id when none is given; a taken id is 409', async () => {
    const a = await api().post('/v1/cpus').set('content-type', json).send({ accelerator: 'hvf' });
    expect(a.status).toBe(201);
    expect(a.body.arrayLen).toBe(107);
    expect(a.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await createKvm()).status).toBe(201);
    expectProblem(await createKvm(), 409, 'vcpu-exists');
  });

  test('from a blob, in both formats', async () => {
    await createKvm();
    await api().put(`/v1/cpus/vm1.cpu0/registers/${TPIDR_EL0}`).set('content-type', json).send({ value: '0x42' });
    for (const format of ['v22', 'v23'] as const) {
      const blob = (await api().get(`/v1/cpus/vm1.cpu0/migration?format=${format}`).buffer(true)).body as Buffer;
      const res = await api()
        .post(`/v1/cpus?format=${format}&accelerator=kvm&id=copy-${format}`)
        .set('content-type', 'application/octet-stream')
        .send(blob);
      expect(res.status).toBe(201);
      expect(res.body.registers.find((r: { id: string }) => r.id === TPIDR_EL0).value).toBe('0x0000000000000042');
    }
  });

  test('list, paged and filtered by label', async () => {
    await createKvm('a');
    await createKvm('b');
    await api()
      .post('/v1/cpus')
      .set('content-type', json)
      .send({ id: 'c', accelerator: 'hvf', labels: { vm: 'other' } });
    const page1 = await api().get('/v1/cpus?limit=2');
    expect(page1.body.items.map((i: { id: string }) => i.id)).toEqual(['a', 'b']);
    const page2 = await api().get(`/v1/cpus?limit=2&after=${page1.body.next}`);
    expect(page2.body.items.map((i: { id: string }) => i.id)).toEqual(['c']);
    const vm1 = await api().get('/v1/cpus?label=vm=vm1');
    expect(vm1.body.items.map((i: { id: string; accelerator: string }) => i.id)).toEqual(['a', 'b']);
  });

  test('refusals: bad JSON, unknown fields, non-hex values, bad ids, wrong accelerator list, unknown vCPU', async () => {
    expectProblem(await api().post('/v1/cpus').set('content-type', json).send('{"accelerator":'), 400, 'bad-request');
    expectProblem(
      await api()
        .post('/v1/cpus')
        .set('content-type', json)
        .send({ accelerator: 'kvm', registers: [TPIDR_EL0], extra: 1 }),
      400,
      'bad-request',
    );
    expectProblem(
      await api()
        .post('/v1/cpus')
        .set('content-type', json)
        .send({ accelerator: 'kvm', registers: [TPIDR_EL0], values: { [TPIDR_EL0]: 5 } }),
      400,
      'bad-request',
    );
    expectProblem(
      await api()
        .post('/v1/cpus')
        .set('content-type', json)
        .send({ accelerator: 'kvm', registers: [TPIDR_EL0], values: { [TPIDR_EL0]: '5' } }),
      400,
      'bad-request',
    );
    expectProblem(
      await api().post('/v1/cpus').set('content-type', json).send({ id: '-bad', accelerator: 'hvf' }),
      400,
      'bad-request',
    );
    expectProblem(
      await api()
        .post('/v1/cpus')
        .set('content-type', json)
        .send({ accelerator: 'kvm', registers: ['0x703000000013de82'] }),
      400,
      'invalid-reg-id',
    );
    const dup = await api()
      .post('/v1/cpus')
      .set('content-type', json)
      .send({ accelerator: 'tcg', registers: [TPIDR_EL0, TPIDR_EL0] });
    expectProblem(dup, 422, 'invalid-register-list');
    expect(dup.body.registers).toEqual([{ id: TPIDR_EL0, name: 'TPIDR_EL0', generic: false }]);
    expectProblem(
      await api().post('/v1/cpus').set('content-type', 'text/plain').send('x'),
      415,
      'unsupported-media-type',
    );
    expectProblem(await api().get('/v1/cpus/nope'), 404, 'vcpu-not-found');
    expectProblem(await api().get('/v1/cpus?bogus=1'), 400, 'bad-request');
    expect((await api().get('/v1/events')).body.events).toEqual([]); // nothing was recorded
  });
});

describe('registers and syncs', () => {
  beforeEach(async () => {
    await createKvm('vm1.cpu0', [FW_U2048]);
  });

  test('PUT by name and by id; PATCH all or nothing; values padded to the width', async () => {
    const put = await api()
      .put('/v1/cpus/vm1.cpu0/registers/TPIDR_EL0')
      .set('content-type', json)
      .send({ value: '0x1122334455667788' });
    expect(put.status).toBe(200);
    expect(put.headers.etag).toBe('"2"');
    expect(put.body).toEqual({
      id: 'vm1.cpu0',
      version: 2,
      written: [{ id: TPIDR_EL0, name: 'TPIDR_EL0', generic: false, value: '0x1122334455667788' }],
      warnings: [],
    });
    const patch = await api()
      .patch('/v1/cpus/vm1.cpu0/registers')
      .set('content-type', json)
      .send({ values: { [SCTLR_EL1]: '0x5', [FW_U2048]: '0x1' } });
    expect(patch.body.written[1].value).toBe('0x' + '0'.repeat(511) + '1');
    const bad = await api()
      .patch('/v1/cpus/vm1.cpu0/registers')
      .set('content-type', json)
      .send({ values: { [SCTLR_EL1]: '0x6', '0x6030000000100000': '0x1' } });
    expectProblem(bad, 422, 'unknown-register');
    expect(bad.body.registers).toEqual([{ id: '0x6030000000100000', name: 'X0', generic: false }]);
    const wide = await api()
      .put('/v1/cpus/vm1.cpu0/registers/0x6020000000110000')
      .set('content-type', json)
      .send({ value: '0x100000000' });
    expectProblem(wide, 422, 'invalid-value');
    expectProblem(
      await api().put('/v1/cpus/vm1.cpu0/registers/NO_SUCH').set('content-type', json).send({ value: '0x1' }),
      404,
      'unknown-register',
    );
    const now = await api().get('/v1/cpus/vm1.cpu0');
    expect(now.body.version).toBe(3);
    expect(now.body.registers.find((r: { id: string }) => r.id === SCTLR_EL1).value).toBe('0x0000000000000005');
  });

  test('If-Match: stale is 412 and changes nothing; current succeeds', async () => {
    const stale = await api()
      .put('/v1/cpus/vm1.cpu0/registers/TPIDR_EL0')
      .set('content-type', json)
      .set('if-match', '"7"')
      .send({ value: '0x1' });
    expectProblem(stale, 412, 'precondition-failed');
    expect(stale.body).toMatchObject({ expectedVersion: 7, actualVersion: 1 });
    const ok = await api()
      .put('/v1/cpus/vm1.cpu0/registers/TPIDR_EL0')
      .set('content-type', json)
      .set('if-match', '"1"')
      .send({ value: '0x1' });
    expect(ok.status).toBe(200);
  });

  test('writes without If-Match never fail under concurrency; with the same If-Match exactly one wins', async () => {
    const many = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api()
          .put('/v1/cpus/vm1.cpu0/registers/TPIDR_EL0')
          .set('content-type', json)
          .send({ value: `0x${i + 1}` }),
      ),
    );
    expect(many.every((r) => r.status === 200)).toBe(true);
    expect(new Set(many.map((r) => r.body.version)).size).toBe(20);
    const v = (await api().get('/v1/cpus/vm1.cpu0')).body.version;
    const race = await Promise.all(
      Array.from({ length: 5 }, () =>
        api()
          .put('/v1/cpus/vm1.cpu0/registers/TPIDR_EL0')
          .set('content-type', json)
          .set('if-match', `"${v}"`)
          .send({ value: '0x99' }),
      ),
    );
    expect(race.filter((r) => r.status === 200)).toHaveLength(1);
    expect(race.filter((r) => r.status === 412)).toHaveLength(4);
  });

  test('Idempotency-Key: a repeat answers the original and records nothing; another body is refused', async () => {
    const send = (value: string) =>
      api()
        .put('/v1/cpus/vm1.cpu0/registers/TPIDR_EL0')
        .set('content-type', json)
        .set('idempotency-key', 'k-1')
        .send({ value });
    const first = await send('0x7');
    const again = await send('0x7');
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((await api().get('/v1/cpus/vm1.cpu0')).body.version).toBe(2);
    expectProblem(await send('0x8'), 422, 'idempotency-key-reused');
    // a create without an id, repeated, gives the same vCPU
    const c1 = await api()
      .post('/v1/cpus')
      .set('content-type', json)
      .set('idempotency-key', 'create-1')
      .send({ accelerator: 'hvf' });
    const c2 = await api()
      .post('/v1/cpus')
      .set('content-type', json)
      .set('idempotency-key', 'create-1')
      .send({ accelerator: 'hvf' });
    expect(c2.status).toBe(201);
    expect(c2.body.id).toBe(c1.body.id);
    expect((await api().get('/v1/cpus')).body.items).toHaveLength(2);
  });

  test('sync from the accelerator (with failed registers) and to it (KVM levels)', async () => {
    await api().put('/v1/cpus/vm1.cpu0/registers/SCTLR_EL1').set('content-type', json).send({ value: '0x9' });
    const from = await api()
      .post('/v1/cpus/vm1.cpu0/syncs')
      .set('content-type', json)
      .send({ direction: 'from-accelerator', values: { TPIDR_EL0: '0x3' }, failed: ['SCTLR_EL1'] });
    expect(from.status).toBe(200);
    expect(from.body).toMatchObject({
      direction: 'from-accelerator',
      failed: [SCTLR_EL1],
      changed: [{ id: TPIDR_EL0, value: '0x0000000000000003' }],
      reported: 1,
    });
    expect(from.body.reportSha256).toMatch(/^[0-9a-f]{64}$/);
    const state = (await api().get('/v1/cpus/vm1.cpu0')).body;
    expect(state.lastSyncFailed).toEqual([SCTLR_EL1]);
    expect(state.registers.find((r: { id: string }) => r.id === SCTLR_EL1).value).toBe('0x0000000000000009');
    const runtime = await api()
      .post('/v1/cpus/vm1.cpu0/syncs')
      .set('content-type', json)
      .send({ direction: 'to-accelerator' });
    expect(runtime.body.level).toBe('runtime');
    expect(runtime.body.write.map((w: { name: string }) => w.name)).not.toContain('TIMER_CNT');
    const full = await api()
      .post('/v1/cpus/vm1.cpu0/syncs')
      .set('content-type', json)
      .send({ direction: 'to-accelerator', level: 'full' });
    expect(full.body.write).toHaveLength(state.arrayLen);
    expectProblem(
      await api().post('/v1/cpus/vm1.cpu0/syncs').set('content-type', json).send({ direction: 'sideways' }),
      400,
      'bad-request',
    );
    expectProblem(
      await api()
        .post('/v1/cpus/vm1.cpu0/syncs')
        .set('content-type', json)
        .send({ direction: 'from-accelerator', values: { '0x603000000013ffff': '0x1' } }),
      422,
      'unknown-register',
    );
  });
});

describe('migration blobs', () => {
  beforeEach(async () => {
    await createKvm('src', [FW_U2048]);
    await createKvm('dst', [FW_U2048]);
  });

  test('export v23 → load into another vCPU: report, history, sha256 recorded; v22 of a wide list is 409', async () => {
    await api()
      .patch('/v1/cpus/src/registers')
      .set('content-type', json)
      .send({ values: { TPIDR_EL0: '0xabc', [FW_U2048]: '0x' + 'f'.repeat(512) } });
    const exp = await api().get('/v1/cpus/src/migration?format=v23').buffer(true);
    expect(exp.status).toBe(200);
    expect(exp.headers['content-type']).toBe('application/octet-stream');
    const blob = exp.body as Buffer;
    expect(decodeV23(new Uint8Array(blob)).cpregValues.length).toBe(K + 32);
    const events = (await api().get('/v1/cpus/src/events')).body.events;
    expect(events[events.length - 1]).toMatchObject({
      type: 'BlobExported',
      data: { format: 'v23', sha256: exp.headers['x-content-sha256'], byteLength: blob.length },
    });
    const v22 = await api().get('/v1/cpus/src/migration?format=v22');
    expectProblem(v22, 409, 'not-representable');
    expect(v22.body.registers).toEqual([{ id: FW_U2048, name: expect.any(String), generic: true }]);

    const check = await api()
      .post('/v1/cpus/dst/migration/check?format=v23')
      .set('content-type', 'application/octet-stream')
      .send(blob);
    expect(check.body).toMatchObject({ dryRun: true, kept: [], warnings: [] });
    expect(check.body.changed.map((c: { id: string }) => c.id)).toEqual([TPIDR_EL0, FW_U2048]);
    expect((await api().get('/v1/cpus/dst')).body.version).toBe(1); // the dry run recorded nothing
    const load = await api()
      .put('/v1/cpus/dst/migration?format=v23')
      .set('content-type', 'application/octet-stream')
      .send(blob);
    expect(load.status).toBe(200);
    expect(load.body).toMatchObject({ version: 2, dryRun: false, format: 'v23' });
    expect(load.body.updated).toHaveLength(K + 1);
    const diff = await api().get('/v1/cpus/dst/diff?from=1&to=2');
    expect(diff.body.changes.map((c: { id: string }) => c.id)).toEqual([TPIDR_EL0, FW_U2048]);
  });

  test('a refused load is 422 naming the registers and changes nothing', async () => {
    await api()
      .post('/v1/cpus')
      .set('content-type', json)
      .send({ id: 'small', accelerator: 'tcg', registers: [TPIDR_EL0] });
    await api().put('/v1/cpus/dst/registers/TPIDR_EL0').set('content-type', json).send({ value: '0x1' });
    const tcg = (await api().get('/v1/cpus/dst/migration?format=v23').buffer(true)).body as Buffer;
    const res = await api()
      .put('/v1/cpus/small/migration?format=v23')
      .set('content-type', 'application/octet-stream')
      .send(tcg);
    expectProblem(res, 422, 'blob-rejected');
    expect(res.body.detail).toMatch(new RegExp(`Invalid value ${K + 1} expecting positive value <= 1`));
    const truncated = await api()
      .put('/v1/cpus/dst/migration?format=v23')
      .set('content-type', 'application/octet-stream')
      .send(tcg.subarray(0, tcg.length - 1));
    expectProblem(truncated, 422, 'malformed-blob');
    expect((await api().get('/v1/cpus/small')).body.version).toBe(1);
    expectProblem(
      await api().put('/v1/cpus/dst/migration?format=v23').set('content-type', json).send({}),
      415,
      'unsupported-media-type',
    );
    expectProblem(await api().get('/v1/cpus/dst/migration?format=v99'), 400, 'bad-request');
    expectProblem(await api().get('/v1/cpus/dst/migration'), 400, 'bad-request');
  });

  test('v22 round trip of a list without wide registers', async () => {
    await api()
      .post('/v1/cpus')
      .set('content-type', json)
      .send({ id: 'k', accelerator: 'kvm', registers: kvmKernelList(), values: { TPIDR_EL0: '0x5' } });
    const blob = (await api().get('/v1/cpus/k/migration?format=v22').buffer(true)).body as Buffer;
    expect(blob.length).toBe(4 + 16 * K);
    expect(decodeV22(new Uint8Array(blob)).cpregIndexes.length).toBe(K);
  });
});

describe('history', () => {
  test('events per vCPU, the global feed paged, past versions, diff, verify', async () => {
    await createKvm();
    for (let i = 1; i <= 5; i++)
      await api()
        .put('/v1/cpus/vm1.cpu0/registers/TPIDR_EL0')
        .set('content-type', json)
        .set('x-request-id', `req-${i}`)
        .send({ value: `0x${i}` });
    const evs = (await api().get('/v1/cpus/vm1.cpu0/events?after=2&limit=2')).body;
    expect(evs.events.map((e: { version: number }) => e.version)).toEqual([3, 4]);
    expect(evs.next).toBe(4);
    expect(evs.events[0].metadata).toMatchObject({ actor: 'anonymous', requestId: 'req-2', correlationId: 'req-2' });
    const feed = (await api().get('/v1/events?after=0&limit=4')).body;
    expect(feed.events.map((e: { position: number }) => e.position)).toEqual([1, 2, 3, 4]);
    expect(feed.next).toBe(4);
    const v3 = await api().get('/v1/cpus/vm1.cpu0?version=3');
    expect(v3.headers.etag).toBe('"3"');
    expect(v3.body.registers.find((r: { id: string }) => r.id === TPIDR_EL0).value).toBe('0x0000000000000002');
    expectProblem(await api().get('/v1/cpus/vm1.cpu0?version=99'), 404, 'version-not-found');
    const diff = (await api().get('/v1/cpus/vm1.cpu0/diff?from=2&to=6')).body;
    expect(diff.changes).toEqual([
      { id: TPIDR_EL0, name: 'TPIDR_EL0', generic: false, before: '0x0000000000000001', after: '0x0000000000000005' },
    ]);
    const verify = (await api().get('/v1/audit/verify')).body;
    expect(verify).toMatchObject({ ok: true, events: 6 });
    expect(verify.headHash).toMatch(/^[0-9a-f]{64}$/);
  });

  test('the feed as Server-Sent Events, resumable with Last-Event-ID', async () => {
    await createKvm();
    await api().put('/v1/cpus/vm1.cpu0/registers/TPIDR_EL0').set('content-type', json).send({ value: '0x1' });
    const server = await new Promise<http.Server>((resolve) => {
      const s = http.createServer(t.app).listen(0, '127.0.0.1', () => resolve(s));
    });
    const port = (server.address() as { port: number }).port;
    try {
      const read = (lastId?: string) =>
        new Promise<string>((resolve, reject) => {
          const req = http.get(
            {
              host: '127.0.0.1',
              port,
              path: '/v1/events',
              headers: { accept: 'text/event-stream', ...(lastId ? { 'last-event-id': lastId } : {}) },
            },
            (res) => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (d: string) => {
                text += d;
                if ((text.match(/\nid: /g) ?? []).length + (text.startsWith('id: ') ? 1 : 0) >= (lastId ? 1 : 2)) {
                  req.destroy();
                  resolve(text);
                }
              });
            },
          );
          req.on('error', (e) => (/socket hang up|aborted/.test(String(e)) ? undefined : reject(e)));
        });
      const all = await read();
      expect(all).toMatch(/id: 1\nevent: VcpuCreated\ndata: \{/);
      expect(all).toMatch(/id: 2\nevent: RegistersWritten\n/);
      const resumed = await read('1');
      expect(resumed).not.toMatch(/id: 1\n/);
      expect(resumed).toMatch(/id: 2\n/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
