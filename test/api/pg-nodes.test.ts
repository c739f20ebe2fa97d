/**
 * Several service nodes — real processes, the compiled server — over one PostgreSQL database:
 * the guarantees of one node hold across them, and survive faults.
 *
 * Across nodes: of two nodes writing one vCPU at one version exactly one wins (If-Match: the
 * other gets 412; without it both land, the loser re-decided); one Idempotency-Key sent to two
 * nodes at once has one effect and identical answers; writers on three nodes and a follower of
 * each node's feed (JSON pages and SSE) that must see every event once, in order, without a
 * hole; the chain verifies on every node.
 * Faults: SIGKILL of one of two nodes under eight writers spread over both; `pg_ctl stop -m
 * immediate` under load and a start again (on a cluster of this file's own): the nodes answer
 * 503 problem+json meanwhile and recover by themselves; no acknowledged write is lost.
 *
 * The database comes from CPREG_TEST_PG_URL; the fault cluster from scripts/ci/start-postgres.sh
 * (the PostgreSQL binaries). Without them: skipped with one line; with CI=true: never skipped.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as pg from 'pg';
import { httpRequest, jsonRequest, keepAliveAgent, type Target } from '../../bench/lib/http-client';
import { freePort, type SpawnedServer } from '../../bench/lib/http-server';
import { buildServer, ROOT, startBuilt } from '../helpers/built-server';
import { createPgDatabase, needsPostgres } from '../storage/backends';

const REGS = [
  '0x603000000013de82', // TPIDR_EL0
  '0x603000000013de83', // TPIDRRO_EL0
  '0x603000000013c684', // TPIDR_EL1
  '0x603000000013c100', // TTBR0_EL1
  '0x603000000013c101', // TTBR1_EL1
  '0x603000000013c510', // MAIR_EL1
  '0x603000000013c600', // VBAR_EL1
  '0x603000000013c208', // SP_EL0
];
const JSON_HEADERS = { 'content-type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let tmp: string;
let entry: string;
const children = new Set<ChildProcess>();

interface Node {
  server: SpawnedServer;
  port: number;
  t: Target;
}

async function startNode(url: string, port?: number): Promise<Node> {
  const p = port ?? (await freePort());
  const server = await startBuilt(
    entry,
    {
      CPREG_DATABASE_URL: url,
      CPREG_DB: path.join(tmp, 'unused.db'),
      CPREG_SSE_STALL_MS: '60000',
      // snapshots every 5 events: nodes load states from snapshots other nodes wrote
      CPREG_SNAPSHOT_EVERY: '5',
    },
    children,
    p,
  );
  return { server, port: p, t: { host: '127.0.0.1', port: p } };
}

async function stopNode(n: Node): Promise<void> {
  if (n.server.child.exitCode !== null || n.server.child.signalCode !== null) return;
  n.server.child.kill('SIGTERM');
  await n.server.exited;
}

/** Creates the vCPU (or finds it there: each test runs alone too). */
async function createCpu(n: Node, id: string, registers = REGS): Promise<void> {
  const r = await jsonRequest(n.t, 'POST', '/v1/cpus', { id, accelerator: 'tcg', registers });
  if (r.status !== 201 && r.status !== 409) throw new Error(`create ${id}: ${r.status} ${r.text}`);
}

const put = (
  n: Node,
  cpu: string,
  reg: string,
  value: bigint,
  headers: Record<string, string> = {},
  agent?: http.Agent,
) =>
  httpRequest(
    { ...n.t, ...(agent ? { agent } : {}) },
    {
      method: 'PUT',
      path: `/v1/cpus/${cpu}/registers/${reg}`,
      headers: { ...JSON_HEADERS, ...headers },
      body: JSON.stringify({ value: '0x' + value.toString(16) }),
      timeoutMs: 10_000,
    },
  );

async function getJson<T>(n: Node, p: string): Promise<T> {
  const r = await jsonRequest<T>(n.t, 'GET', p);
  if (r.status !== 200 || r.json === undefined) throw new Error(`GET ${p}: ${r.status} ${r.text.slice(0, 200)}`);
  return r.json;
}

interface FeedEvent {
  position: number;
  streamId: string;
  version: number;
  type: string;
  data: { ids?: string[]; values?: string[] };
}

/** The whole feed through one node's JSON pages. */
async function readFeed(n: Node): Promise<FeedEvent[]> {
  const out: FeedEvent[] = [];
  for (let after = 0, i = 0; i < 10_000; i++) {
    const page = await getJson<{ events: FeedEvent[]; next: number | null }>(n, `/v1/events?after=${after}&limit=500`);
    out.push(...page.events);
    if (page.next === null) break;
    after = page.next;
  }
  return out;
}

/**
 * A follower of one node's SSE feed, as EventSource does it: on an end or an error it connects
 * again with Last-Event-ID. Records every id in arrival order.
 */
const followers = new Set<{ stop: () => void }>();

function followSse(n: Node) {
  const ids: number[] = [];
  let stopped = false;
  let req: http.ClientRequest | undefined;
  let reconnects = 0;
  const connect = () => {
    if (stopped) return;
    const last = ids.at(-1);
    req = http.get(
      {
        host: '127.0.0.1',
        port: n.port,
        path: '/v1/events',
        agent: false,
        headers: { accept: 'text/event-stream', ...(last ? { 'last-event-id': String(last) } : {}) },
      },
      (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          const frames = buf.split('\n\n');
          buf = frames.pop()!;
          for (const f of frames) {
            const m = /^id: (\d+)$/m.exec(f);
            if (m) ids.push(Number(m[1]));
          }
        });
        res.on('close', again);
      },
    );
    req.on('error', again);
  };
  let pending = false;
  function again() {
    if (stopped || pending) return;
    pending = true;
    reconnects++;
    setTimeout(() => {
      pending = false;
      connect();
    }, 200);
  }
  connect();
  const follower = {
    ids,
    get reconnects() {
      return reconnects;
    },
    /** Waits (bounded) until the follower has seen `position`. */
    async until(position: number, ms = 20_000) {
      const deadline = Date.now() + ms;
      while ((ids.at(-1) ?? 0) < position && Date.now() < deadline) await sleep(50);
    },
    stop() {
      stopped = true;
      req?.destroy();
    },
  };
  followers.add(follower);
  return follower;
}

/** Writers each owning one register of a shared vCPU; records every acknowledged write. */
interface Ack {
  cpu: string;
  reg: string;
  value: bigint;
  version: number;
}

function runWriters(targets: (w: number) => Node, writers: number, cpus: number) {
  const acks: Ack[] = [];
  const refusals: Array<{ status: number; type?: string; contentType?: string; retryAfter?: string; detail?: string }> =
    [];
  let connectionErrors = 0;
  let stop = false;
  const loops = Array.from({ length: writers }, async (_, w) => {
    const agent = keepAliveAgent(1);
    const cpu = `n.${w % cpus}`;
    const reg = REGS[w]!;
    for (let seq = 0; !stop && seq < 100_000; seq++) {
      const value = (BigInt(w + 1) << 40n) | BigInt(seq);
      try {
        const r = await put(targets(w), cpu, reg, value, {}, agent);
        if (r.status === 200) acks.push({ cpu, reg, value, version: JSON.parse(r.text).version });
        else {
          let type: string | undefined;
          let detail: string | undefined;
          try {
            ({ type, detail } = JSON.parse(r.text) as { type?: string; detail?: string });
          } catch {
            detail = r.text.slice(0, 200);
          }
          refusals.push({
            status: r.status,
            ...(type ? { type } : {}),
            ...(detail ? { detail: `${cpu} ${reg}: ${detail}` } : {}),
            ...(r.headers['content-type'] ? { contentType: r.headers['content-type'] } : {}),
            ...(r.headers['retry-after'] ? { retryAfter: String(r.headers['retry-after']) } : {}),
          });
          await sleep(50);
        }
      } catch {
        connectionErrors++; // the node was killed mid-request, or is not back yet: not acknowledged
        await sleep(20);
      }
    }
    agent.destroy();
  });
  return {
    acks,
    refusals,
    get connectionErrors() {
      return connectionErrors;
    },
    async stop() {
      stop = true;
      await Promise.all(loops);
    },
  };
}

/** Every vCPU's history has versions 1..n and holds every acknowledged write at its version. */
async function checkAcks(n: Node, acks: Ack[], cpus: number): Promise<number> {
  const feed = await readFeed(n);
  expect(feed.map((e) => e.position)).toEqual(feed.map((_, i) => i + 1));
  for (let c = 0; c < cpus; c++) {
    const cpu = `n.${c}`;
    const events = feed.filter((e) => e.streamId === cpu);
    expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1));
    const lost = acks
      .filter((a) => a.cpu === cpu)
      .filter((a) => {
        const e = events[a.version - 1];
        const k = e?.data.ids?.indexOf(a.reg) ?? -1;
        return e?.type !== 'RegistersWritten' || k < 0 || BigInt(e.data.values![k]!) !== a.value;
      });
    expect(lost).toEqual([]);
  }
  // the state at an acknowledged version, on the node asked (snapshots of any node): a sample
  const sample = acks.filter((_, i) => i % Math.max(1, Math.ceil(acks.length / 30)) === 0);
  for (const a of sample) {
    const past = await getJson<{ registers: Array<{ id: string; value: string }> }>(
      n,
      `/v1/cpus/${a.cpu}?version=${a.version}`,
    );
    expect(BigInt(past.registers.find((r) => r.id === a.reg)!.value)).toBe(a.value);
  }
  return feed.length;
}

needsPostgres('PostgreSQL: several nodes over one database', () => {
  let db: Awaited<ReturnType<typeof createPgDatabase>>;
  let nodes: Node[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-pg-nodes-'));
    entry = buildServer(path.join(tmp, 'out'));
    db = await createPgDatabase('cpreg_nodes');
    // three nodes started at once on a new database: one migrates, the others wait for it
    nodes = await Promise.all([startNode(db.url), startNode(db.url), startNode(db.url)]);
  }, 180_000);

  afterAll(async () => {
    for (const f of followers) f.stop();
    for (const n of nodes) await stopNode(n).catch(() => undefined);
    for (const c of children) c.kill('SIGKILL');
    await db?.drop().catch(() => undefined);
  });

  test('three nodes started at once on one new database share one schema', async () => {
    for (const n of nodes) expect((await getJson<{ status: string }>(n, '/healthz')).status).toBe('ok');
    await createCpu(nodes[0]!, 'n.0');
    await createCpu(nodes[1]!, 'n.1');
    for (const n of nodes) {
      const page = await getJson<{ items: Array<{ id: string }> }>(n, '/v1/cpus');
      expect(page.items.map((c) => c.id)).toEqual(['n.0', 'n.1']);
    }
  });

  test('If-Match races between two nodes: exactly one wins, the other gets 412; without If-Match both land', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const reg = REGS[0]!;
    await createCpu(a, 'n.0');
    let version = (await getJson<{ version: number }>(b, '/v1/cpus/n.0')).version;
    for (let round = 0; round < 15; round++) {
      const ifMatch = { 'if-match': `"${version}"` };
      const [ra, rb] = await Promise.all([
        put(a, 'n.0', reg, BigInt(2 * round), ifMatch),
        put(b, 'n.0', reg, BigInt(2 * round + 1), ifMatch),
      ]);
      expect([ra.status, rb.status].sort()).toEqual([200, 412]);
      const lost = ra.status === 412 ? ra : rb;
      expect(lost.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(lost.text)).toMatchObject({ type: 'urn:cpreg-ledger:problem:precondition-failed' });
      version++;
      const won = ra.status === 200 ? ra : rb;
      expect(won.headers.etag).toBe(`"${version}"`);
    }
    // without If-Match the loser of the race decides again on what the winner left
    for (let round = 0; round < 15; round++) {
      const [ra, rb] = await Promise.all([put(a, 'n.0', reg, 100n + BigInt(round)), put(b, 'n.0', reg, 200n)]);
      expect([ra.status, rb.status]).toEqual([200, 200]);
      expect(JSON.parse(ra.text).version).not.toBe(JSON.parse(rb.text).version);
      version += 2;
    }
    expect((await getJson<{ version: number }>(nodes[2]!, '/v1/cpus/n.0')).version).toBe(version);
  });

  test("a node's cache never lets it decide on a state another node has moved past", async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    await createCpu(a, 'n.stale');
    const reg = REGS[2]!;
    for (let round = 1; round <= 12; round++) {
      // b has the vCPU in its cache (it just read it) …
      const seen = await getJson<{ version: number }>(b, '/v1/cpus/n.stale');
      // … a moves it on …
      const w = await put(a, 'n.stale', reg, BigInt(round));
      expect(w.status).toBe(200);
      expect(JSON.parse(w.text).version).toBe(seen.version + 1);
      // … and b, asked to record a sync that reports the value a wrote, finds it unchanged:
      // decided on a's state, not on the one b had cached
      const sync = await jsonRequest<{ changed: unknown[]; version: number }>(b.t, 'POST', '/v1/cpus/n.stale/syncs', {
        direction: 'from-accelerator',
        values: { [reg]: '0x' + round.toString(16) },
      });
      expect(sync.status).toBe(200);
      expect(sync.json?.changed).toEqual([]);
      expect(sync.json?.version).toBe(seen.version + 2);
    }
    // past states read on the third node (from snapshots any node wrote, every 5 events)
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const snaps = await c.query("SELECT count(*)::int AS n FROM snapshots WHERE stream_id = 'n.stale'");
    await c.end();
    expect(snaps.rows[0].n).toBeGreaterThanOrEqual(3);
    for (let v = 2; v <= 25; v += 2) {
      const past = await getJson<{ version: number; registers: Array<{ id: string; value: string }> }>(
        nodes[2]!,
        `/v1/cpus/n.stale?version=${v}`,
      );
      expect(BigInt(past.registers.find((r) => r.id === reg)!.value)).toBe(BigInt(Math.floor(v / 2)));
    }
  });

  test('one Idempotency-Key sent to two nodes at once: one effect, identical answers', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    await createCpu(b, 'n.1');
    const before = (await getJson<{ version: number }>(a, '/v1/cpus/n.1')).version;
    for (let round = 0; round < 10; round++) {
      const key = { 'idempotency-key': `race-put-${round}` };
      const answers = await Promise.all([
        put(a, 'n.1', REGS[1]!, 0x1000n + BigInt(round), key),
        put(b, 'n.1', REGS[1]!, 0x1000n + BigInt(round), key),
      ]);
      expect(answers.map((r) => r.status)).toEqual([200, 200]);
      expect(answers[0]!.text).toBe(answers[1]!.text);
      expect(answers[0]!.headers.etag).toBe(answers[1]!.headers.etag);
      expect(JSON.parse(answers[0]!.text).version).toBe(before + round + 1);
    }
    expect((await getJson<{ version: number }>(c, '/v1/cpus/n.1')).version).toBe(before + 10);
    // a create whose id the service makes up: the same key at once on three nodes, one vCPU
    const key = { 'idempotency-key': 'race-create' };
    const body = { accelerator: 'tcg', registers: REGS.slice(0, 2) };
    const creates = await Promise.all(nodes.map((n) => jsonRequest(n.t, 'POST', '/v1/cpus', body, key)));
    expect(creates.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(new Set(creates.map((r) => r.text)).size).toBe(1);
    expect(new Set(creates.map((r) => r.headers.etag)).size).toBe(1);
    expect(creates.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(2);
  });

  test('writers on three nodes; every node’s feed (JSON pages and SSE) has every event once, in order; the chain verifies on each', async () => {
    for (let c = 0; c < 4; c++) await createCpu(nodes[c % 3]!, `n.${c}`);
    const sse = nodes.map((n) => followSse(n));
    // JSON followers, one per node, reading as the writers write: a hole would be a skip
    let writing = true;
    const followers = nodes.map(async (n) => {
      const seen: number[] = [];
      const holes: string[] = [];
      let after = 0;
      for (let i = 0; i < 50_000; i++) {
        const stop = !writing;
        const page = await getJson<{ events: FeedEvent[] }>(n, `/v1/events?after=${after}&limit=20`);
        for (const e of page.events) {
          if (e.position !== after + 1) holes.push(`${after} → ${e.position}`);
          seen.push(e.position);
          after = e.position;
        }
        if (stop && page.events.length === 0) break;
      }
      return { seen, holes };
    });
    const w = runWriters((i) => nodes[i % 3]!, 6, 4);
    await sleep(3000);
    await w.stop();
    writing = false;
    const followed = await Promise.all(followers);
    expect(w.refusals).toEqual([]);
    expect(w.acks.length).toBeGreaterThan(30);
    const total = await checkAcks(nodes[0]!, w.acks, 4);
    for (const f of followed) {
      expect(f.holes).toEqual([]);
      expect(f.seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    }
    for (const s of sse) await s.until(total);
    sse.forEach((s) => s.stop());
    for (const s of sse) expect(s.ids).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const heads = new Set<string>();
    for (const n of nodes) {
      const v = await getJson<{ ok: boolean; events: number; headHash: string }>(n, '/v1/audit/verify');
      expect(v).toMatchObject({ ok: true, events: total });
      heads.add(v.headHash);
    }
    expect(heads.size).toBe(1);
    console.log(`nodes: ${w.acks.length} writes through 3 nodes, ${total} events, every follower saw each once`);
  }, 90_000);

  test('SIGKILL of one of two nodes under eight writers spread over both: no acknowledged write lost', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    for (let c = 4; c < 8; c++) await createCpu(a, `n.${c}`);
    const pair = [a, b];
    const w = runWriters((i) => pair[i % 2]!, 8, 8);
    for (let k = 0; k < 2; k++) {
      await sleep(800 + k * 300);
      const victim = pair[k % 2]!;
      const before = w.acks.length;
      victim.server.child.kill('SIGKILL');
      expect((await victim.server.exited).signal).toBe('SIGKILL');
      await sleep(300); // the survivor keeps answering meanwhile
      expect(w.acks.length).toBeGreaterThan(before);
      const back = await startNode(db.url, victim.port);
      pair[k % 2] = back;
      nodes[k % 2] = back;
    }
    await sleep(800);
    await w.stop();
    expect(w.refusals).toEqual([]);
    expect(w.acks.length).toBeGreaterThan(50);
    expect(w.connectionErrors).toBeGreaterThan(0);
    const total = await checkAcks(nodes[2]!, w.acks, 8);
    expect(await getJson(nodes[2]!, '/v1/audit/verify')).toMatchObject({ ok: true, events: total });
    console.log(`node kills: ${w.acks.length} acknowledged, ${w.connectionErrors} connection errors, ${total} events`);
  }, 90_000);
});

/** A cluster of this file's own, for `pg_ctl stop -m immediate`: the shared one must stay up. */
function ownCluster(): { url: string; bin: string; data: string } {
  const out = execFileSync('bash', [path.join(ROOT, 'scripts/ci/start-postgres.sh'), String(process.pid)], {
    env: { ...process.env, CPREG_PG_NO_INSTALL: process.env.CI === 'true' ? '' : '1' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const v = (name: string) => {
    const m = new RegExp(`^export ${name}=(.*)$`, 'm').exec(out);
    if (!m) throw new Error(`start-postgres.sh printed no ${name}: ${out}`);
    return m[1]!;
  };
  return { url: v('CPREG_TEST_PG_URL'), bin: v('CPREG_TEST_PG_BIN'), data: v('CPREG_TEST_PG_DATA') };
}

function pgCtl(c: { bin: string; data: string }, ...args: string[]): void {
  const argv = [path.join(c.bin, 'pg_ctl'), '-D', c.data, ...args];
  if (process.getuid?.() === 0) execFileSync('runuser', ['-u', 'postgres', '--', ...argv], { stdio: 'pipe' });
  else execFileSync(argv[0]!, argv.slice(1), { stdio: 'pipe' });
}

needsPostgres('PostgreSQL: the database stops under load (pg_ctl stop -m immediate)', () => {
  let cluster: { url: string; bin: string; data: string } | undefined;
  const running: Node[] = [];

  beforeAll(async () => {
    tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-pg-nodes-'));
    if (!entry) entry = buildServer(path.join(tmp, 'out'));
    cluster = ownCluster();
  }, 180_000);

  afterAll(async () => {
    for (const f of followers) f.stop();
    for (const n of running) await stopNode(n).catch(() => undefined);
    for (const c of children) c.kill('SIGKILL');
    if (cluster) {
      try {
        pgCtl(cluster, 'stop', '-m', 'fast');
      } catch {
        // already stopped
      }
      fs.rmSync(path.dirname(cluster.data), { recursive: true, force: true });
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('nodes answer 503 problem+json while it is away, recover by themselves, lose nothing acknowledged', async () => {
    const c = cluster!;
    const [a, b] = await Promise.all([startNode(c.url), startNode(c.url)]);
    running.push(a, b);
    for (let k = 0; k < 4; k++) await createCpu(a, `n.${k}`);
    const sse = [followSse(a), followSse(b)];
    const w = runWriters((i) => (i % 2 ? b : a), 8, 4);
    await sleep(1000);
    const ackedBeforeStop = w.acks.length;
    expect(ackedBeforeStop).toBeGreaterThan(10);
    pgCtl(c, 'stop', '-m', 'immediate');
    await sleep(500);
    // while it is away: every node answers 503 problem+json with Retry-After, reads and writes
    const whileDown = await Promise.all(
      [a, b].flatMap((n) => [jsonRequest(n.t, 'GET', '/v1/cpus/n.0'), put(n, 'n.0', REGS[0]!, 1n)]),
    );
    for (const r of whileDown) {
      expect(r.status).toBe(503);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(r.text)).toMatchObject({ type: 'urn:cpreg-ledger:problem:database-unavailable', status: 503 });
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    await sleep(1000);
    const ackedWhileDown = w.acks.length;
    pgCtl(c, 'start', '-w', '-t', '60', '-l', path.join(path.dirname(c.data), 'server.log'));
    // both nodes write again by themselves (nobody restarts them)
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && w.acks.length < ackedWhileDown + 40) await sleep(100);
    await sleep(500);
    await w.stop();
    expect(w.acks.length).toBeGreaterThanOrEqual(ackedWhileDown + 40);
    expect(a.server.child.exitCode).toBeNull();
    expect(b.server.child.exitCode).toBeNull();
    // what the writers were told meanwhile: 503 problem+json (database-unavailable), nothing else
    expect(w.refusals.length).toBeGreaterThan(0);
    for (const r of w.refusals) {
      expect(r).toMatchObject({ status: 503, type: 'urn:cpreg-ledger:problem:database-unavailable' });
      expect(r.contentType).toMatch(/^application\/problem\+json/);
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
    }
    const total = await checkAcks(a, w.acks, 4);
    expect(await getJson(b, '/v1/audit/verify')).toMatchObject({ ok: true, events: total });
    // the SSE followers (resuming with Last-Event-ID, as EventSource does) saw every event once
    for (const s of sse) await s.until(total);
    sse.forEach((s) => s.stop());
    for (const s of sse) expect(s.ids).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    console.log(
      `pg stop: ${w.acks.length} acknowledged (${ackedBeforeStop} before the stop), ${w.refusals.length} answered 503, ${total} events, chain ok`,
    );
  }, 120_000);
});
