import express from 'express';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { readStream } from '../../domain/qemu-stream';
import { qemuStreamRoutes } from '../../api/routes/qemu-streams';
import { makeTestApp, type TestApp } from '../helpers/app';
import { manifest, stream } from '../domain/qemu-stream/helpers';
import { syntheticStream } from '../domain/qemu-stream/synthetic';
import { binary } from '../helpers/binary';

/** The three /v1/qemu-streams routes on the real app, with the real QEMU 7.2 fixture streams. */

const OCTET = 'application/octet-stream';
const TPIDR_EL0 = '0x603000000013de82';
const ID_AA64MMFR0_EL1 = '0x603000000013c038';
const MAX = 'aarch64-max-smp2';

let t: TestApp;
beforeEach(() => {
  t = makeTestApp();
});
afterEach(() => t.close());
const api = () => request(t.app);

function expectProblem(res: request.Response, status: number, kind: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: `urn:cpreg-ledger:problem:${kind}`, status });
  expect(typeof res.body.detail).toBe('string');
}

const post = (path: string, body: Buffer, type = OCTET) => api().post(path).set('content-type', type).send(body);
const importVm = (vm: string, name = MAX, extra = '') => post(`/v1/qemu-streams/import?vm=${vm}${extra}`, stream(name));
/** supertest buffers octet-stream answers when told how. */

describe('POST /v1/qemu-streams/inspect', () => {
  test.each(manifest().fixtures.map((f) => [f.name, f] as const))(
    '%s: machine, page size, every cpu with its registers',
    async (_n, f) => {
      const res = await post('/v1/qemu-streams/inspect', stream(f.name));
      expect(res.status).toBe(200);
      expect(res.body.machine).toBe(f.machine);
      expect(res.body.pageSize).toBe(f.pageSize);
      expect(res.body.cpus.map((c: { instance: number; arrayLen: number }) => [c.instance, c.arrayLen])).toEqual(
        f.cpus.map((c) => [c.instance, c.n]),
      );
      for (const c of res.body.cpus) {
        expect(c.version).toBe(22);
        expect(c.registers).toHaveLength(c.arrayLen);
        for (const r of c.registers) {
          expect(r.id).toMatch(/^0x[0-9a-f]{16}$/);
          expect(typeof r.name).toBe('string');
          expect(r.value).toMatch(/^0x[0-9a-f]+$/);
        }
      }
      if (f.name === MAX) {
        const reg = res.body.cpus[1].registers.find((r: { id: string }) => r.id === TPIDR_EL0);
        expect(reg).toMatchObject({ name: 'TPIDR_EL0', value: '0x0000000000000000' });
      }
    },
  );

  test('malformed and truncated streams: 422 naming the byte offset', async () => {
    const s = stream(MAX);
    const bad = Buffer.from(s);
    bad[0] = 0x00; // not QEVM
    const a = await post('/v1/qemu-streams/inspect', bad);
    expectProblem(a, 422, 'malformed-blob');
    expect(a.body.detail).toMatch(/^at byte 0: /);
    const cut = await post('/v1/qemu-streams/inspect', s.subarray(0, 300));
    expectProblem(cut, 422, 'malformed-blob');
    expect(cut.body.detail).toMatch(/^at byte \d+: stream ends/);
    const tail = await post('/v1/qemu-streams/inspect', s.subarray(0, s.length - 10));
    expectProblem(tail, 422, 'malformed-blob');
    expect(tail.body.detail).toMatch(/at byte \d+/);
  });

  test('wrong content type 415; unknown query parameter 400', async () => {
    expectProblem(
      await post('/v1/qemu-streams/inspect', Buffer.from('{}'), 'application/json'),
      415,
      'unsupported-media-type',
    );
    expectProblem(await post('/v1/qemu-streams/import?vm=a', stream(MAX), 'text/plain'), 415, 'unsupported-media-type');
    expectProblem(await post('/v1/qemu-streams/inspect?x=1', stream(MAX)), 400, 'bad-request');
  });
});

describe('size limit (CPREG_STREAM_LIMIT)', () => {
  let small: TestApp;
  beforeEach(() => {
    small = makeTestApp({ streamLimit: 100000 });
  });
  afterEach(() => small.close());

  test('413 by Content-Length, before reading', async () => {
    const res = await request(small.app).post('/v1/qemu-streams/inspect').set('content-type', OCTET).send(stream(MAX));
    expectProblem(res, 413, 'payload-too-large');
    expect(res.body.detail).toMatch(/100000 bytes/);
  });

  test('413 by counting, for a chunked upload without Content-Length', async () => {
    const server = http.createServer(small.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const s = stream(MAX);
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          {
            port,
            host: '127.0.0.1',
            method: 'POST',
            path: '/v1/qemu-streams/inspect',
            headers: { 'content-type': OCTET, 'transfer-encoding': 'chunked' },
          },
          (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on('error', reject);
        let i = 0;
        const more = () => {
          while (i < s.length) {
            const ok = req.write(s.subarray(i, i + 16384));
            i += 16384;
            if (!ok) return void req.once('drain', more);
          }
          req.end();
        };
        more();
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({ type: 'urn:cpreg-ledger:problem:payload-too-large' });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('POST /v1/qemu-streams/import', () => {
  test('creates vm.cpu0 and vm.cpu1 from the blocks; a second import loads (versions move, history has BlobLoaded)', async () => {
    const a = await importVm('vm1');
    expect(a.status).toBe(200);
    expect(a.body).toEqual({
      vm: 'vm1',
      cpus: [
        { instance: 0, id: 'vm1.cpu0', action: 'created', version: 1 },
        { instance: 1, id: 'vm1.cpu1', action: 'created', version: 1 },
      ],
    });
    const cpu1 = await api().get('/v1/cpus/vm1.cpu1');
    expect(cpu1.body).toMatchObject({ accelerator: 'tcg', arrayLen: 304 });
    // the vCPU's export is exactly the stream's block
    const exported = await binary(api().get('/v1/cpus/vm1.cpu1/migration?format=v22'));
    expect(Buffer.compare(exported.body as Buffer, Buffer.from(readStream([stream(MAX)]).cpus[1]!.block))).toBe(0);

    await api()
      .put(`/v1/cpus/vm1.cpu1/registers/TPIDR_EL0`)
      .set('content-type', 'application/json')
      .send({ value: '0x1234' })
      .expect(200);
    const b = await importVm('vm1');
    expect(b.status).toBe(200);
    expect(b.body.cpus.map((c: { action: string; version: number }) => [c.action, c.version])).toEqual([
      ['loaded', 2],
      ['loaded', 4],
    ]);
    // cpu1 had TPIDR_EL0 = 0x1234: the load puts the stream's 0 back and reports it
    expect(b.body.cpus[1].report.changed).toEqual([
      { id: TPIDR_EL0, name: 'TPIDR_EL0', generic: false, value: '0x0000000000000000' },
    ]);
    expect(b.body.cpus[0].report.changed).toEqual([]);
    expect(b.body.cpus[0].report).toMatchObject({ format: 'v22', dryRun: false, warnings: [] });
    const events = await api().get('/v1/cpus/vm1.cpu1/events');
    expect(events.body.events.map((e: { type: string }) => e.type)).toEqual([
      'VcpuCreated',
      'BlobExported',
      'RegistersWritten',
      'BlobLoaded',
    ]);
    const created = events.body.events[0];
    expect(created.data.source).toMatchObject({ kind: 'blob', format: 'v22' });
  });

  test('accelerator kvm: the domain list rules apply (a TCG list is refused, nothing written)', async () => {
    const res = await importVm('vmk', MAX, '&accelerator=kvm');
    expect(res.status).toBe(422);
    expect((await api().get('/v1/cpus/vmk.cpu0')).status).toBe(404);
    expectProblem(await importVm('vmk', MAX, '&accelerator=xen'), 400, 'bad-request');
  });

  test('a refusal for one vCPU writes none of them', async () => {
    // vm2.cpu1 exists with a different (smaller) list: the load of the 304-register block is refused
    await post(
      '/v1/cpus?format=v22&accelerator=tcg&id=vm2.cpu1',
      Buffer.from(readStream([stream('aarch64-cortex-a57')]).cpus[0]!.block),
    ).expect(201);
    const res = await importVm('vm2');
    expectProblem(res, 422, 'blob-rejected');
    expect(res.body.detail).toMatch(/^vm2\.cpu1: /);
    expect(res.body.registers.length).toBeGreaterThan(0);
    expect((await api().get('/v1/cpus/vm2.cpu0')).status).toBe(404);
    expect((await api().get('/v1/cpus/vm2.cpu1')).body.version).toBe(1);
  });

  test('vm is required and must be a sane prefix; a malformed stream writes nothing', async () => {
    expectProblem(await post('/v1/qemu-streams/import', stream(MAX)), 400, 'bad-request');
    expectProblem(await importVm('-bad'), 400, 'bad-request');
    expectProblem(await importVm('x'.repeat(102)), 400, 'bad-request');
    const res = await post('/v1/qemu-streams/import?vm=vm3', stream(MAX).subarray(0, 400000));
    expectProblem(res, 422, 'malformed-blob');
    expect((await api().get('/v1/cpus/vm3.cpu0')).status).toBe(404);
  });

  test('Idempotency-Key: a repeat answers the original result and records nothing', async () => {
    const a = await importVm('vm4').set('Idempotency-Key', 'imp-1');
    expect(a.status).toBe(200);
    const b = await importVm('vm4').set('Idempotency-Key', 'imp-1');
    expect(b.status).toBe(200);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.body).toEqual(a.body);
    expect((await api().get('/v1/cpus/vm4.cpu0')).body.version).toBe(1);
    const other = await post('/v1/qemu-streams/import?vm=vm4', stream('aarch64-cortex-a57')).set(
      'Idempotency-Key',
      'imp-1',
    );
    expect(other.status).toBe(422);
  });
});

describe('POST /v1/qemu-streams/rewrite', () => {
  test('after a PUT of TPIDR_EL0 on cpu1, exactly those 8 bytes of the stream change', async () => {
    await importVm('vm1').expect(200);
    await api()
      .put(`/v1/cpus/vm1.cpu1/registers/TPIDR_EL0`)
      .set('content-type', 'application/json')
      .send({ value: '0x1122334455667788' })
      .expect(200);
    const original = stream(MAX);
    const res = await binary(post('/v1/qemu-streams/rewrite?vm=vm1', original));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/octet-stream/);
    const out = res.body as Buffer;
    expect(out.length).toBe(original.length);
    const diff: number[] = [];
    for (let i = 0; i < out.length; i++) if (out[i] !== original[i]) diff.push(i);
    const cpu1 = readStream([original]).cpus[1]!;
    const k = cpu1.indexes.indexOf(BigInt(TPIDR_EL0));
    const slot = cpu1.blockOffset + 4 + 8 * cpu1.n + 8 * k;
    expect(diff.length).toBeGreaterThan(0);
    for (const i of diff) expect(i >= slot && i < slot + 8).toBe(true);
    expect(out.readBigUInt64BE(slot)).toBe(0x1122334455667788n);
    // unchanged vCPUs: the output is the input
    await importVm('vm5').expect(200);
    const same = await binary(post('/v1/qemu-streams/rewrite?vm=vm5', original));
    expect(Buffer.compare(same.body as Buffer, original)).toBe(0);
  });

  test('a missing VM is a 404 before the body is read; a missing vCPU or a different list is a 422 naming them', async () => {
    expectProblem(await post('/v1/qemu-streams/rewrite?vm=nope', stream(MAX)), 404, 'vcpu-not-found');
    // only cpu0 exists
    await post(
      '/v1/cpus?format=v22&accelerator=tcg&id=vm6.cpu0',
      Buffer.from(readStream([stream(MAX)]).cpus[0]!.block),
    ).expect(201);
    const missing = await post('/v1/qemu-streams/rewrite?vm=vm6', stream(MAX));
    expectProblem(missing, 404, 'vcpu-not-found');
    expect(missing.body.detail).toMatch(/vm6\.cpu1/);
    // cpu1 with a cortex-a57 list (258 registers)
    await post(
      '/v1/cpus?format=v22&accelerator=tcg&id=vm6.cpu1',
      Buffer.from(readStream([stream('aarch64-cortex-a57')]).cpus[0]!.block),
    ).expect(201);
    const differs = await post('/v1/qemu-streams/rewrite?vm=vm6', stream(MAX));
    expectProblem(differs, 422, 'blob-rejected');
    expect(differs.body.detail).toMatch(
      /register list of vm6\.cpu1 \(258 registers\) differs from the stream's cpu 1 \(304\)/,
    );
    expect(differs.body.registers.length).toBeGreaterThan(0);
    expect(differs.body.registers[0]).toHaveProperty('name');
  });

  test('malformed stream 422, wrong type 415, vm required 400', async () => {
    await importVm('vm7').expect(200);
    const cut = await post('/v1/qemu-streams/rewrite?vm=vm7', stream(MAX).subarray(0, 1000));
    expectProblem(cut, 422, 'malformed-blob');
    expect(cut.body.detail).toMatch(/^at byte \d+/);
    expectProblem(
      await post('/v1/qemu-streams/rewrite?vm=vm7', stream(MAX), 'text/plain'),
      415,
      'unsupported-media-type',
    );
    expectProblem(await post('/v1/qemu-streams/rewrite', stream(MAX)), 400, 'bad-request');
  });

  test('a refusal after output started (stream larger than the hold-back) aborts the connection', async () => {
    await post(
      '/v1/cpus?format=v22&accelerator=tcg&id=vm8.cpu0',
      Buffer.from(readStream([stream(MAX)]).cpus[0]!.block),
    ).expect(201);
    const app = express();
    app.use(qemuStreamRoutes({ ...t.ctx, rewriteHoldBack: 4096 }));
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const s = stream(MAX);
      const outcome = await new Promise<{ status?: number; received: number; error?: string }>((resolve) => {
        let status: number | undefined;
        let received = 0;
        const req = http.request(
          {
            port,
            host: '127.0.0.1',
            method: 'POST',
            path: '/v1/qemu-streams/rewrite?vm=vm8',
            headers: { 'content-type': OCTET, 'content-length': s.length },
          },
          (res) => {
            status = res.statusCode;
            res.on('data', (d: Buffer) => (received += d.length));
            res.on('error', (e) => resolve({ status, received, error: e.message }));
            res.on('end', () => resolve({ status, received }));
          },
        );
        req.on('error', (e) => resolve({ status, received, error: e.message }));
        req.end(s);
      });
      expect(outcome.status).toBe(200);
      expect(outcome.error).toBeDefined();
      expect(outcome.received).toBeGreaterThan(4096);
      expect(outcome.received).toBeLessThan(s.length);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('migration pre-flight with a real stream block', () => {
  test('a block whose ID_AA64MMFR0_EL1 differs from the vCPU warns (QEMU would refuse it)', async () => {
    await importVm('vm9').expect(200);
    const block = Buffer.from(readStream([stream(MAX)]).cpus[1]!.block);
    const n = block.readUInt32BE(0);
    let k = -1;
    for (let i = 0; i < n; i++) if (block.readBigUInt64BE(4 + 8 * i) === BigInt(ID_AA64MMFR0_EL1)) k = i;
    expect(k).toBeGreaterThanOrEqual(0);
    const at = 4 + 8 * n + 8 * k;
    block.writeBigUInt64BE(block.readBigUInt64BE(at) ^ 0xfn, at);
    const res = await post('/v1/cpus/vm9.cpu1/migration/check?format=v22', block);
    expect(res.status).toBe(200);
    expect(res.body.warnings).toEqual([
      expect.objectContaining({
        kind: 'read-only-id-register-changed',
        register: ID_AA64MMFR0_EL1,
        name: 'ID_AA64MMFR0_EL1',
      }),
    ]);
    expect(res.body.changed.map((c: { id: string }) => c.id)).toEqual([ID_AA64MMFR0_EL1]);
    // and the same through the API write path: PUT the ID register, rewrite, pre-flight the block
    const unchanged = await post(
      '/v1/cpus/vm9.cpu1/migration/check?format=v22',
      Buffer.from(readStream([stream(MAX)]).cpus[1]!.block),
    );
    expect(unchanged.body.warnings).toEqual([]);
  });
});

describe('stream bodies are streamed, not buffered', () => {
  const MB = 1024 * 1024;
  /** Sends a 256 MB stream chunk by chunk (chunked encoding) and samples this process's memory. */
  async function send(path: string): Promise<{ status: number; body: Buffer; received: number; peak: number }> {
    const server = http.createServer(t.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = process.memoryUsage();
    let peak = 0;
    const sample = () => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.arrayBuffers - base.arrayBuffers + (m.heapUsed - base.heapUsed));
    };
    try {
      const { port } = server.address() as AddressInfo;
      return await new Promise((resolve, reject) => {
        let received = 0;
        const head: Buffer[] = [];
        const req = http.request(
          {
            port,
            host: '127.0.0.1',
            method: 'POST',
            path,
            headers: { 'content-type': OCTET, 'transfer-encoding': 'chunked' },
          },
          (res) => {
            res.on('data', (d: Buffer) => {
              received += d.length;
              if (head.length < 64) head.push(d); // keep only the start (a JSON answer is small)
            });
            res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(head), received, peak }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        const gen = syntheticStream({ ramBytes: 256 * MB });
        let sent = 0;
        const more = () => {
          for (;;) {
            const n = gen.next();
            if (n.done) return void req.end();
            sent += n.value.length;
            if (sent % (16 * MB) < n.value.length) sample();
            if (!req.write(n.value)) return void req.once('drain', more);
          }
        };
        more();
      });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }

  test('inspect and rewrite of a 256 MB stream: memory stays far below the stream size', async () => {
    const a = await send('/v1/qemu-streams/inspect');
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body.toString()).cpus.map((c: { arrayLen: number }) => c.arrayLen)).toEqual([304, 304]);
    expect(a.peak).toBeLessThan(96 * MB);
    await importVm('big').expect(200);
    const b = await send('/v1/qemu-streams/rewrite?vm=big');
    expect(b.status).toBe(200);
    expect(b.received).toBeGreaterThan(256 * MB);
    expect(b.peak).toBeLessThan(96 * MB);
  });
});
