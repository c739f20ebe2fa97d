import * as http from 'http';
import * as net from 'net';
import fc from 'fast-check';
import { Writable } from 'node:stream';
import request from 'supertest';
import { createApp } from '../../api/app';
import { hashToken, type TokenEntry } from '../../api/auth';
import { withFastLane } from '../../api/fast-lane';
import { createLogger } from '../../api/logging';
import { kvmKernelList, makeTestApp, type TestApp } from '../helpers/app';

// The fast lane (api/fast-lane.ts) must answer exactly as the express app does. Twin services on
// twin stores get the same requests: `laned` through the lane, `plain` through express alone;
// every answer and every recorded event must be the same, and the lane must have served the
// plain requests itself (it counts what it hands over).

const json = 'application/json';
const token = (name: string, role: 'read' | 'write', t: string): TokenEntry => ({
  name,
  role,
  sha256: Buffer.from(hashToken(t), 'hex'),
});
const tokens = [token('agent', 'write', 'w-secret'), token('viewer', 'read', 'r-secret')];
const WRITE = 'Bearer w-secret';

let laned: TestApp;
let plain: TestApp;
let lane: http.RequestListener;
let handed = 0;
let n = 0;

beforeEach(async () => {
  laned = makeTestApp({ tokens, limits: { bodyTimeoutMs: 300 } });
  plain = makeTestApp({ tokens, limits: { bodyTimeoutMs: 300 } });
  handed = 0;
  lane = withFastLane(laned.ctx, (req, res) => {
    handed++;
    laned.express(req, res);
  });
  for (const t of [laned, plain]) {
    const r = await request(t.express)
      .post('/v1/cpus')
      .set('x-request-id', 'create')
      .set('authorization', WRITE)
      .set('content-type', json)
      .send({ id: 'vm1.cpu0', accelerator: 'kvm', registers: kvmKernelList() });
    expect(r.status).toBe(201);
  }
});
afterEach(async () => {
  await laned.close();
  await plain.close();
});

interface Sent {
  method: 'PUT' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

const KEPT = ['content-type', 'content-length', 'etag', 'www-authenticate', 'x-request-id', 'allow', 'retry-after'];

function answerOf(r: request.Response) {
  const headers = Object.fromEntries(KEPT.filter((h) => r.headers[h] !== undefined).map((h) => [h, r.headers[h]]));
  // the order they were sent in, too
  const raw = (r as unknown as { res: { rawHeaders: string[] } }).res.rawHeaders;
  const order = raw
    .filter((_, k) => k % 2 === 0)
    .map((h) => h.toLowerCase())
    .filter((h) => KEPT.includes(h));
  return { status: r.status, headers, order, text: r.text };
}

/** Sends one request to both; expects the same answer; tells whether the lane served it itself. */
async function both(s: Sent): Promise<{ status: number; body: unknown; servedByLane: boolean }> {
  const id = `req-${++n}`;
  const send = (target: http.RequestListener) => {
    let r = (s.method === 'PUT' ? request(target).put(s.path) : request(target).post(s.path)).set('x-request-id', id);
    for (const [k, v] of Object.entries(s.headers ?? {})) r = r.set(k, v);
    return s.body === undefined ? r : r.send(s.body);
  };
  const before = handed;
  const a = await send(lane);
  const servedByLane = handed === before;
  const b = await send(plain.express);
  expect(answerOf(a)).toEqual(answerOf(b));
  return { status: a.status, body: a.body as unknown, servedByLane };
}

/** Every event recorded, without what differs by nature (times and the hashes over them). */
async function events(t: TestApp) {
  const r = await request(t.express).get('/v1/events?limit=1000').set('authorization', WRITE);
  return (r.body.events as Array<Record<string, unknown>>).map((e) => {
    const { recordedAt: _r, hash: _h, prevHash: _p, ...rest } = e;
    const { recordedAt: _m, ...metadata } = e.metadata as Record<string, unknown>;
    return { ...rest, metadata };
  });
}

const put = (value: string, extra: Partial<Sent> = {}): Sent => ({
  method: 'PUT',
  path: '/v1/cpus/vm1.cpu0/registers/TPIDR_EL0',
  headers: { authorization: WRITE, 'content-type': json, ...extra.headers },
  body: JSON.stringify({ value }),
  ...(extra.path ? { path: extra.path } : {}),
  ...(extra.body !== undefined ? { body: extra.body } : {}),
});

const TPIDR_EL0 = '0x603000000013de82';
const TPIDRRO_EL0 = '0x603000000013de83';
const sync = (values: Record<string, string>, extra: Record<string, unknown> = {}, headers = {}): Sent => ({
  method: 'POST',
  path: '/v1/cpus/vm1.cpu0/syncs',
  headers: { authorization: WRITE, 'content-type': json, ...headers },
  body: JSON.stringify({ direction: 'from-accelerator', values, ...extra }),
});

test('a plain PUT and a plain sync are served by the lane, answered and recorded as by express', async () => {
  const w = await both(
    put('0x1234', { headers: { 'x-correlation-id': 'c-1', traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` } }),
  );
  expect(w).toMatchObject({ status: 200, servedByLane: true });
  expect(w.body).toMatchObject({
    id: 'vm1.cpu0',
    version: 2,
    written: [{ name: 'TPIDR_EL0', value: '0x0000000000001234' }],
  });
  const s = await both(sync({ [TPIDR_EL0]: '0x5', [TPIDRRO_EL0]: '0x7' }, { failed: ['0x603000000013c080'] }));
  expect(s).toMatchObject({ status: 200, servedByLane: true });
  expect(s.body).toMatchObject({ version: 3, reported: 2, changed: [{ name: 'TPIDR_EL0' }, { name: 'TPIDRRO_EL0' }] });
  const utf8 = { 'content-type': 'application/json; charset=utf-8' };
  expect(await both(put('0x9', { headers: utf8 }))).toMatchObject({ status: 200, servedByLane: true });
  expect(await events(laned)).toEqual(await events(plain));
  const recorded = (await events(laned))[1]!;
  expect(recorded).toMatchObject({ version: 2 });
  expect(JSON.stringify(recorded)).toContain('"actor":"agent"');
  expect(JSON.stringify(recorded)).toContain('"correlationId":"c-1"');
});

test('what the lane does not serve, or cannot finish, the app answers the same way', async () => {
  const cases: Array<[Sent, number]> = [
    [put('0x1', { path: '/v1/cpus/vm1.cpu0/registers/NO_SUCH_REG' }), 404], // the register is the resource
    [put('0x1', { path: '/v1/cpus/vm9.cpu0/registers/TPIDR_EL0' }), 404],
    [put('0xZZ'), 400],
    [put('', { body: '{"value":"0x1","more":1}' }), 400],
    [put('', { body: '{"value":"0x1"' }), 400],
    [put('', { body: '' }), 400],
    [put('0x1', { headers: { 'x-correlation-id': 'bad id with spaces' } }), 400],
    [put('0x1', { headers: { authorization: 'Bearer r-secret' } }), 403],
    [put('0x1', { headers: { authorization: 'Bearer nope' } }), 401],
    [put('0x1', { headers: { 'content-type': 'text/plain' } }), 415],
    [put('0x1', { headers: { 'content-type': 'application/json; charset=latin1' } }), 415],
    [put('0x1', { headers: { 'if-match': '"1"' } }), 200],
    [put('0x2', { headers: { 'if-match': '"1"' } }), 412],
    [put('0x3', { headers: { 'idempotency-key': 'k1' } }), 200],
    [put('0x3', { headers: { 'idempotency-key': 'k1' } }), 200], // the replay
    [put('0x4', { path: '/v1/cpus/vm1.cpu0/registers/TPIDR_EL0?x=1' }), 400],
    [put('0x5', { path: '/v1/cpus/vm1.cpu0/registers/TPIDR%5FEL0' }), 200],
    [sync({ [TPIDR_EL0]: '0x1' }, { more: true }), 400],
    [sync({ '0x6030000000139999': '0x1' }), 422],
    [sync({ [TPIDR_EL0]: '0x10000000000000000' }), 422], // wider than the register
    [put('', { body: '\ufeff{"value":"0x9"}' }), 200], // a BOM, dropped as the app's text parser drops it
    [{ ...sync({}), body: '{"direction":"to-accelerator","level":"full"}' }, 200],
  ];
  for (const [s, status] of cases) {
    const r = await both(s);
    expect([s.path, s.headers, String(s.body), r.status]).toEqual([s.path, s.headers, String(s.body), status]);
  }
  expect(await events(laned)).toEqual(await events(plain));
});

test('fast-check: any PUT or sync body gets the same answer through the lane as from express', async () => {
  const hexish = fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 70n) - 1n }).map((v) => '0x' + v.toString(16)),
    fc.constantFrom('0x', '12', '0X1f', '0x-1', ''),
  );
  const regKey = fc.constantFrom(TPIDR_EL0, TPIDRRO_EL0, 'TPIDR_EL0', '0x603000000013DE82', '0x6030000000139999', 'x');
  const body = fc.oneof(
    hexish.map((v) => JSON.stringify({ value: v })),
    fc
      .dictionary(regKey, hexish, { maxKeys: 3 })
      .map((values) => JSON.stringify({ direction: 'from-accelerator', values })),
    fc.json(),
    fc.string(),
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1')),
  );
  await fc.assert(
    fc.asyncProperty(fc.boolean(), body, async (isPut, text) => {
      const s: Sent = isPut ? put('', { body: text }) : { ...sync({}), body: text };
      await both(s);
    }),
    { numRuns: 60 },
  );
  expect(await events(laned)).toEqual(await events(plain));
});

test('a body that does not arrive in time is answered 408 and its connection closed', async () => {
  const server = http.createServer(lane);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const answer = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () =>
        s.write(
          'PUT /v1/cpus/vm1.cpu0/registers/TPIDR_EL0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer w-secret\r\n' +
            'Content-Type: application/json\r\nContent-Length: 20\r\n\r\n{"val',
        ),
      );
      let got = '';
      s.on('data', (c) => (got += c.toString()));
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toMatch(/connection: close/i);
    expect(answer).toContain('urn:cpreg-ledger:problem:request-timeout');
    expect(handed).toBe(1); // the lane began it; the app answered it
  } finally {
    server.close();
  }
  expect(await events(laned)).toHaveLength(1); // only the vCPU's creation
});

test("the lane's answers are counted under the route's pattern", async () => {
  await both(put('0x1'));
  const m = await request(laned.express).get('/metrics');
  expect(m.text).toMatch(
    /cpreg_http_requests_total\{route="\/v1\/cpus\/:id\/registers\/:reg",method="PUT",status="200"\} 1/,
  );
});

test("the lane's log line is the app's: one per answer, with the request id and the token's name", async () => {
  const logged = async (through: (ctx: TestApp['ctx']) => http.RequestListener, id: string) => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const ctx = { ...laned.ctx, logger: createLogger('info', sink) };
    const r = await request(through(ctx))
      .put('/v1/cpus/vm1.cpu0/registers/TPIDR_EL0')
      .set('x-request-id', id)
      .set('authorization', WRITE)
      .set('content-type', json)
      .send({ value: '0x77' });
    expect(r.status).toBe(200);
    await new Promise((resolve) => ctx.logger.flush(() => resolve(undefined)));
    const { time: _t, ms, ...line } = JSON.parse(lines.find((l) => l.includes(id))!) as Record<string, unknown>;
    expect(typeof ms).toBe('number');
    return line;
  };
  const viaLane = await logged((ctx) => withFastLane(ctx, () => expect('handed over').toBe('not')), 'log-1');
  const viaApp = await logged((ctx) => createApp(ctx), 'log-2');
  expect(viaLane).toEqual({ ...viaApp, requestId: 'log-1' });
  expect(viaLane).toMatchObject({ msg: 'request', status: 200, actor: 'agent', method: 'PUT' });
});

test('a client that drops its connection mid-body leaves the service ready, with or without the lane', async () => {
  for (const [target, t] of [
    [lane, laned],
    [plain.express, plain],
  ] as const) {
    const server = http.createServer(target);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      for (const path of ['/v1/cpus/vm1.cpu0/registers/TPIDR_EL0', '/v1/cpus/vm1.cpu0/syncs']) {
        await new Promise<void>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => {
            s.write(
              `${path.endsWith('syncs') ? 'POST' : 'PUT'} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${WRITE}\r\n` +
                'Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{"val',
            );
            setTimeout(() => s.destroy(), 30);
          });
          s.on('close', () => resolve());
          s.on('error', reject);
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      const ready = await request(t.express).get('/readyz');
      expect([ready.status, ready.body.status]).toEqual([200, 'ready']);
    } finally {
      server.close();
    }
  }
  expect(await events(laned)).toHaveLength(1);
  expect(await events(plain)).toHaveLength(1);
});
