import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hashToken, type TokenEntry } from '../../api/auth';
import {
  checkInclusion,
  createCpregClient,
  inclusionRoot,
  etagVersion,
  exportBlob,
  followFeed,
  isHexValue,
  listAllHostProfiles,
  loadBlob,
  parseHex,
  ProblemError,
  regIdHex,
  sameValue,
  shortHex,
  toHex,
  unwrap,
  vcpuHistory,
  writeRegisters,
  type CpregClient,
  type CpregEvent,
} from '../../client';
import { makeTestApp, type TestApp } from '../helpers/app';

/**
 * The README's story through the typed client (client/), against the real app listening on a
 * loopback port: every step the README does with curl, here with the generated types.
 */

const KVM_LIST = [
  '0x6030000000100000', // X0 (CORE: dropped)
  '0x6080000000150000', // Z0 (SVE: dropped)
  '0x603000000013c080', // SCTLR_EL1
  '0x603000000013de82', // TPIDR_EL0
  '0x603000000013df1a', // TIMER_CNT
  '0x6020000000110000', // DEMUX_CCSIDR_0
  '0x6030000000140000', // PSCI_VERSION
  '0x6080000000140100', // a 2048-bit firmware pseudo-register
];

interface Served {
  t: TestApp;
  server: http.Server;
  url: string;
  /** Cuts the connections of the event-stream subscribers (and only those). */
  cutFeeds: () => void;
  close: () => Promise<void>;
}

async function serve(opts: Parameters<typeof makeTestApp>[0] = {}): Promise<Served> {
  const t = makeTestApp(opts);
  const server = http.createServer(t.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const feeds = new Set<import('node:net').Socket>();
  server.on('request', (req: http.IncomingMessage) => {
    if (/text\/event-stream/.test(req.headers.accept ?? '')) {
      feeds.add(req.socket);
      req.socket.once('close', () => feeds.delete(req.socket));
    }
  });
  return {
    t,
    server,
    url,
    cutFeeds: () => feeds.forEach((sock) => sock.destroy()),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await t.close();
    },
  };
}

let s: Served;
let api: CpregClient;
beforeAll(async () => {
  s = await serve();
  api = createCpregClient(s.url);
});
afterAll(() => s?.close());

test('the README story, step by step', async () => {
  // create from the kernel's list: CORE and SVE dropped, the 2048-bit register takes 32 slots
  const created = await api.POST('/v1/cpus', {
    body: { id: 'vm1.cpu0', accelerator: 'kvm', labels: { vm: 'vm1' }, registers: KVM_LIST },
  });
  const vm1 = unwrap(created);
  expect(created.response.status).toBe(201);
  expect(etagVersion(created.response)).toBe(1);
  expect([vm1.arrayLen, vm1.valueArrayLen]).toEqual([6, 37]);
  expect(vm1.registers.map((r) => r.name)).toEqual(
    expect.arrayContaining(['SCTLR_EL1', 'TPIDR_EL0', 'TIMER_CNT', 'DEMUX_CCSIDR_0', 'PSCI_VERSION']),
  );
  expect(vm1.registers.find((r) => r.id === '0x6080000000140100')).toMatchObject({ size: 256, slots: 32 });

  // a conditional, idempotent write by name; its repeat is the first answer
  const w = { ifMatch: 1, idempotencyKey: 'demo-write-1' };
  const first = await writeRegisters(api, 'vm1.cpu0', { TPIDR_EL0: '0x0000ffff8000a000' }, w);
  const again = await writeRegisters(api, 'vm1.cpu0', { TPIDR_EL0: '0x0000ffff8000a000' }, w);
  expect(first.version).toBe(2);
  expect(again).toEqual(first);
  // several at once (PATCH), by name and by id
  const patched = await writeRegisters(api, 'vm1.cpu0', { SCTLR_EL1: '0x30d00800', '0x6080000000140100': '0x1' });
  expect(patched.summary.written.map((x) => x.name)).toEqual(['SCTLR_EL1', expect.any(String)]);

  // syncs: from the accelerator (a failed register keeps its slot), then what to write back
  const from = unwrap(
    await api.POST('/v1/cpus/{id}/syncs', {
      params: { path: { id: 'vm1.cpu0' } },
      body: { direction: 'from-accelerator', values: { TIMER_CNT: '0x5f5e100' }, failed: ['PSCI_VERSION'] },
    }),
  );
  expect(from.failed).toEqual(['0x6030000000140000']);
  const to = unwrap(
    await api.POST('/v1/cpus/{id}/syncs', {
      params: { path: { id: 'vm1.cpu0' } },
      body: { direction: 'to-accelerator', level: 'runtime' },
    }),
  );
  expect(to.write?.map((x) => x.name)).not.toContain('TIMER_CNT'); // counters only at full

  // export v23 (v22 cannot carry the 2048-bit register: a 409 naming it)
  const blob = await exportBlob(api, 'vm1.cpu0', 'v23');
  expect(blob.bytes.length).toBeGreaterThan(0);
  expect(blob.sha256).toMatch(/^[0-9a-f]{64}$/);
  const refused = await exportBlob(api, 'vm1.cpu0', 'v22').catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(ProblemError);
  expect((refused as ProblemError).status).toBe(409);
  expect((refused as ProblemError).problem?.registers?.map((r) => r.id)).toEqual(['0x6080000000140100']);

  // migrate it into vm2: the pre-flight records nothing, the load reports what it did
  unwrap(await api.POST('/v1/cpus', { body: { id: 'vm2.cpu0', accelerator: 'kvm', registers: KVM_LIST.slice(2) } }));
  const check = await loadBlob(api, 'vm2.cpu0', 'v23', blob.bytes, { dryRun: true });
  expect(check.dryRun).toBe(true);
  expect((await vcpuHistory(api, 'vm2.cpu0')).length).toBe(1);
  const loaded = await loadBlob(api, 'vm2.cpu0', 'v23', blob.bytes);
  expect(loaded.dryRun).toBe(false);
  expect(loaded.changed.map((c) => c.name)).toEqual(expect.arrayContaining(['TPIDR_EL0', 'TIMER_CNT']));

  // history, a past version, the arrays, a diff
  const history = await vcpuHistory(api, 'vm1.cpu0');
  expect(history.map((e) => e.type)).toEqual([
    'VcpuCreated',
    'RegistersWritten',
    'RegistersWritten',
    'SyncedFromAccelerator',
    'SyncedToAccelerator',
    'BlobExported',
  ]);
  const v2 = unwrap(await api.GET('/v1/cpus/{id}', { params: { path: { id: 'vm1.cpu0' }, query: { version: 2 } } }));
  expect(v2.version).toBe(2);
  expect(v2.registers.find((r) => r.name === 'SCTLR_EL1')?.value).toBe('0x0000000000000000');
  const arrays = unwrap(await api.GET('/v1/cpus/{id}/arrays', { params: { path: { id: 'vm1.cpu0' } } }));
  expect(arrays.cpregIndexes).toHaveLength(6);
  expect(arrays.cpregValues).toHaveLength(37);
  const diff = unwrap(
    await api.GET('/v1/cpus/{id}/diff', { params: { path: { id: 'vm2.cpu0' }, query: { from: 1, to: 2 } } }),
  );
  expect(diff.changes.find((c) => c.name === 'TPIDR_EL0')).toMatchObject({
    before: '0x0000000000000000',
    after: '0x0000ffff8000a000',
  });

  // the feed and the chain
  const feed = unwrap(await api.GET('/v1/events', { params: { query: { after: 0, limit: 100 } } }));
  expect(feed.events.map((e) => e.streamId)).toContain('vm2.cpu0');
  const verdict = unwrap(await api.GET('/v1/audit/verify'));
  expect(verdict).toMatchObject({ ok: true, events: feed.events.length });

  // a refusal names its registers
  const bad = (await writeRegisters(api, 'vm1.cpu0', { TPIDR_EL0: '0x1', '0x6030000000100000': '0x2' }).catch(
    (e: unknown) => e,
  )) as ProblemError;
  expect(bad).toBeInstanceOf(ProblemError);
  expect(bad.status).toBe(422);
  expect(bad.problem?.registers?.map((r) => r.id)).toEqual(['0x6030000000100000']);
  expect(bad.message).toMatch(/^422 /);

  // a host profile, listed by label
  const profile = unwrap(
    await api.PUT('/v1/host-profiles/{id}', {
      params: { path: { id: 'rack1-a57' } },
      body: {
        accelerator: 'tcg',
        qemu: '10.0',
        cpuModel: 'cortex-a57',
        labels: { rack: 'r1' },
        registers: { '0x603000000013c000': '0x411fd070', '0x603000000013de82': '0x0' },
      },
    }),
  );
  expect(profile).toMatchObject({ id: 'rack1-a57', version: 1, arrayLen: 2 });
  expect((await listAllHostProfiles(api, ['rack=r1'])).map((p) => p.id)).toEqual(['rack1-a57']);
  expect(await listAllHostProfiles(api, ['rack=r2'])).toEqual([]);
});

test('followFeed: live events over SSE, resumed with Last-Event-ID after the connection drops', async () => {
  const head = unwrap(await api.GET('/v1/events', { params: { query: { after: 0, limit: 1000 } } })).events;
  const start = head.at(-1)?.position ?? 0;
  unwrap(await api.POST('/v1/cpus', { body: { id: 'feed.cpu0', accelerator: 'hvf' } }));
  const stop = new AbortController();
  const seen: CpregEvent[] = [];
  const reconnects: number[] = [];
  const reader = (async () => {
    for await (const e of followFeed(api, {
      after: start,
      signal: stop.signal,
      delayMs: 20,
      onReconnect: (after) => reconnects.push(after),
    })) {
      seen.push(e);
      if (seen.length === 6) break;
    }
  })();
  const until = async (n: number) => {
    for (let i = 0; i < 200 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 25));
    expect(seen.length).toBeGreaterThanOrEqual(n);
  };
  try {
    await until(1);
    await writeRegisters(api, 'feed.cpu0', { TPIDR_EL0: '0x1' });
    await writeRegisters(api, 'feed.cpu0', { TPIDR_EL0: '0x2' });
    await until(3);
    s.cutFeeds(); // the feed's connection is cut
    for (const v of ['0x3', '0x4', '0x5']) await writeRegisters(api, 'feed.cpu0', { TPIDR_EL0: v });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      reader,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), 20000))),
    ]).finally(() => clearTimeout(timer));
  } finally {
    stop.abort();
  }
  expect(reconnects.length).toBeGreaterThanOrEqual(1);
  expect(reconnects[0]).toBe(seen[2]!.position);
  expect(seen.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(seen.map((e) => e.position)).toEqual(seen.map((_, i) => start + 1 + i));
});

test('followFeed stops when its signal aborts, and throws a refusal it cannot cure', async () => {
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 100);
  const got: CpregEvent[] = [];
  for await (const e of followFeed(api, { after: 1_000_000, signal: stop.signal })) got.push(e);
  expect(got).toEqual([]);
  const a = await serve({ tokens: [] });
  try {
    const locked = createCpregClient(a.url);
    await expect(followFeed(locked).next()).rejects.toMatchObject({ status: 401 });
  } finally {
    await a.close();
  }
});

test('with auth on: the token goes with every request (a function is asked each time)', async () => {
  const entry = (name: string, role: 'read' | 'write', token: string): TokenEntry => ({
    name,
    role,
    sha256: Buffer.from(hashToken(token), 'hex'),
  });
  const a = await serve({ tokens: [entry('writer', 'write', 'w-secret'), entry('auditor', 'read', 'r-secret')] });
  try {
    const anonymous = createCpregClient(a.url);
    const refused = await anonymous.GET('/v1/cpus');
    expect(refused.response.status).toBe(401);
    expect(() => unwrap(refused)).toThrow(ProblemError);
    let token = 'w-secret';
    const client = createCpregClient(a.url, { token: () => token });
    unwrap(await client.POST('/v1/cpus', { body: { id: 'a.cpu0', accelerator: 'hvf' } }));
    const events = await vcpuHistory(client, 'a.cpu0');
    expect(events[0]?.metadata.actor).toBe('writer');
    token = 'r-secret';
    const denied = await writeRegisters(client, 'a.cpu0', { TPIDR_EL0: '0x1' }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ProblemError);
    expect([(denied as ProblemError).status, (denied as ProblemError).kind]).toEqual([403, 'forbidden']);
  } finally {
    await a.close();
  }
});

test('inclusion proofs are checked where they are read (RFC 9162, WebCrypto)', async () => {
  const head = unwrap(await api.GET('/v1/audit/verify')).events;
  expect(head).toBeGreaterThan(3);
  for (const position of [1, 2, head]) {
    const p = unwrap(await api.GET('/v1/audit/proofs/inclusion', { params: { query: { position, treeSize: head } } }));
    expect(await checkInclusion(p)).toBe(true);
    // another sibling, leaf or root: not a proof
    if (p.proof.length) {
      const bad = [...p.proof];
      bad[0] = bad[0]!.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      expect(await checkInclusion({ ...p, proof: bad })).toBe(false);
    }
    expect(await checkInclusion({ ...p, rootHash: p.leafHash })).toBe(head === 1);
    expect(await inclusionRoot({ ...p, leafIndex: head })).toBeUndefined();
  }
});

test('hex helpers and URL checks', () => {
  expect(parseHex('0x1f')).toBe(31n);
  expect(() => parseHex('31')).toThrow(TypeError);
  expect(toHex(31n, 4)).toBe('0x0000001f');
  expect(toHex(0x1234)).toBe('0x1234');
  expect(regIdHex(0x603000000013de82n)).toBe('0x603000000013de82');
  expect(sameValue('0x1', '0x0000000000000001')).toBe(true);
  expect(sameValue('0x1', '0x2')).toBe(false);
  expect(shortHex('0x0000ffff8000a000')).toBe('0xffff8000a000');
  expect(shortHex('0x0000')).toBe('0x0');
  expect(isHexValue('0x')).toBe(false);
  expect(() => createCpregClient('127.0.0.1:8080')).toThrow(TypeError);
  expect(() => createCpregClient('ftp://127.0.0.1')).toThrow(/http/);
});
