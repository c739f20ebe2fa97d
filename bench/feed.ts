/**
 * The global feed against its ceiling, the raw SQLite read of the same rows, measured in the same
 * run, interleaved round by round (≥ 3 rounds), min / median / max of the per-round ratios:
 *  - `GET /v1/events?after=…&limit=1000`, paged through every event of the store by one
 *    keep-alive client (the whole body received, `next` taken from its tail) — target ≥ 0.5;
 *  - the same feed as Server-Sent Events from position 0 to the last event — target ≥ 0.5;
 *  - the ceiling: this process reading the same rows with better-sqlite3 (the feed's query, its
 *    columns, raw rows, pages of 1,000), no parsing and no HTTP.
 * Then the SSE live latency: one subscriber at the head, 300 PUTs one after another at random
 * gaps of 2–12 ms; for each, from sending the PUT to its event arriving on the SSE connection
 * (target median ≤ 5 ms), next to the PUT's own round trip and to one fdatasync on the same disk.
 *
 * Run: npm run bench:build && node build/bench/feed.js   (BENCH_EVENTS=… to change 300,000,
 * BENCH_ROUNDS=… for more rounds; --profile: the server under --cpu-prof, its hot functions listed). The server is the compiled api/main.js on a store in a temp dir.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { CpregService } from '../app/service';
import type { VcpuCommand } from '../domain/vcpu';
import { SqliteEventStore } from '../storage/sqlite/sqlite-event-store';
import { httpRequest, keepAliveAgent } from './lib/http-client';
import { spawnServer, type SpawnedServer } from './lib/http-server';
import { summarizeProfile } from './lib/http-profile';
import { appendResults } from './lib/machine';
import { mulberry32 } from './lib/rng';
import { fmt, median, pct, spread } from './lib/stats';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 300_000);
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const PAGE = 1000;
const VCPUS = 100;
const N_REGS = 300;
const LATENCY_WRITES = 300;
const PROFILE = process.argv.includes('--profile');

const ROOT = findRoot(__dirname);
const SERVER = path.resolve(__dirname, '../api/main.js');

function findRoot(dir: string): string {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d))
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'migrations'))) return d;
  return process.cwd();
}

const rng = mulberry32(4242);
const reg = (i: number) => 0x6030000000130000n | BigInt(i * 7 + 0x4000);
const REGS = Array.from({ length: N_REGS }, (_, i) => reg(i));
const value = () => (BigInt(rng.int(0x100000000)) << 32n) | BigInt(rng.int(0x100000000));
const smallWrite = (): VcpuCommand => {
  const n = 1 + rng.int(4);
  const picked = new Set<number>();
  while (picked.size < n) picked.add(rng.int(N_REGS));
  return { type: 'WriteRegisters', values: [...picked].map((i) => [reg(i), value()] as const) };
};

/** EVENTS events on VCPUS vCPUs, through the application (HTTP-shaped metadata), group-committed. */
async function populate(file: string): Promise<number> {
  const store = new SqliteEventStore({ file });
  const service = new CpregService(store, { snapshotEvery: 100 });
  const run = (id: string, command: VcpuCommand) =>
    service.execute([{ streamId: id, command }], {
      metadata: { actor: 'anonymous', requestId: 'r', correlationId: 'r' },
      answer: () => null,
    });
  const ids = Array.from({ length: VCPUS }, (_, c) => `feed.${c}`);
  await Promise.all(
    ids.map((id) => run(id, { type: 'CreateVcpu', accelerator: 'tcg', registers: REGS, labels: { bench: 'feed' } })),
  );
  for (let n = VCPUS; n < EVENTS;) {
    const wave = Math.min(1000, EVENTS - n);
    await Promise.all(Array.from({ length: wave }, (_, k) => run(ids[k % VCPUS]!, smallWrite())));
    n += wave;
  }
  const count = (store.db.prepare('SELECT max(position) AS n FROM events').get() as { n: number }).n;
  await service.close();
  return count;
}

/** The ceiling: every row of the feed's query, raw, pages of PAGE, in this process. Rows/s. */
function rawRead(file: string, total: number): number {
  const db = new Database(file, { readonly: true });
  try {
    const q = db
      .prepare(
        'SELECT position, stream_id, version, type, schema_version, data, metadata, hash FROM events WHERE position > ? ORDER BY position LIMIT ?',
      )
      .raw(true);
    const t0 = performance.now();
    let after = 0;
    let rows = 0;
    while (after < total) {
      for (const r of q.iterate(after, PAGE) as IterableIterator<unknown[]>) {
        after = r[0] as number;
        rows++;
      }
    }
    return (rows * 1000) / (performance.now() - t0);
  } finally {
    db.close();
  }
}

/**
 * Every event through `GET /v1/events` pages, one keep-alive client that only receives the
 * bytes (as the raw read only reads the rows): `next` is found in the body's last bytes. Events/s.
 */
async function feedPages(port: number, total: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const page = (after: number) =>
    new Promise<{ bytes: number; tail: string }>((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port, agent, path: `/v1/events?after=${after}&limit=${PAGE}` },
        (res) => {
          if (res.statusCode !== 200) return reject(new Error(`feed page: ${res.statusCode}`));
          let bytes = 0;
          let last: Buffer = Buffer.alloc(0);
          let prev: Buffer = Buffer.alloc(0);
          res.on('data', (c: Buffer) => {
            bytes += c.length;
            prev = last;
            last = c;
          });
          res.on('error', reject);
          res.on('end', () => {
            const end = last.length >= 40 ? last.subarray(-40) : Buffer.concat([prev.subarray(-40), last]);
            resolve({ bytes, tail: end.toString('latin1') });
          });
        },
      );
      req.on('error', reject);
    });
  const t0 = performance.now();
  let after = 0;
  let bytes = 0;
  while (after < total) {
    const r = await page(after);
    bytes += r.bytes;
    // `{"events":[…],"next":N}`: the tail says where the next page starts
    const next = /"next":(\d+|null)\}$/.exec(r.tail)?.[1];
    if (next === undefined || next === 'null') break;
    after = Number(next);
  }
  agent.destroy();
  if (bytes === 0) throw new Error('feed: no bytes');
  return (total * 1000) / (performance.now() - t0);
}

interface Sse {
  /** Resolves when the event with this global position has arrived. */
  until: (position: number) => Promise<void>;
  /** Arrival time (performance.now()) of each position seen, when `record` is on. */
  arrivals: Map<number, number>;
  record: boolean;
  close: () => void;
}

/** An SSE subscriber from `after`, watching the `id:` lines go by. */
function subscribe(port: number, after: number): Promise<Sse> {
  return new Promise((resolve, reject) => {
    let last = after;
    let tail = '';
    const waiters: Array<{ position: number; done: () => void }> = [];
    const sse: Sse = { until: () => Promise.resolve(), arrivals: new Map(), record: false, close: () => {} };
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path: `/v1/events?after=${after}`,
        headers: { accept: 'text/event-stream' },
      },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`SSE: ${res.statusCode}`));
        const ID = Buffer.from('\nid: ');
        res.on('data', (chunk: Buffer) => {
          const now = performance.now();
          // every id for the latency run; for throughput only the chunk's newest (found natively,
          // the chunk kept as bytes: the client should cost less than what it measures)
          if (sse.record) {
            const text = tail + chunk.toString('latin1');
            for (const m of text.matchAll(/(?:^|\n)id: (\d+)\n/g)) {
              const p = Number(m[1]);
              if (p > last && !sse.arrivals.has(p)) sse.arrivals.set(p, now);
            }
          }
          const edge = Buffer.concat([Buffer.from(tail, 'latin1'), chunk.subarray(0, 64)]);
          for (const [buf, at] of [
            [chunk, chunk.lastIndexOf(ID)],
            [edge, edge.lastIndexOf(ID)],
          ] as const) {
            if (at < 0) continue;
            const end = buf.indexOf(10, at + 5);
            if (end > 0) {
              last = Math.max(last, Number(buf.toString('latin1', at + 5, end)));
              break;
            }
          }
          tail = chunk.toString('latin1', Math.max(0, chunk.length - 64));
          for (let i = waiters.length - 1; i >= 0; i--)
            if (waiters[i]!.position <= last) waiters.splice(i, 1)[0]!.done();
        });
        resolve(sse);
      },
    );
    req.on('error', reject);
    sse.until = (position) =>
      position <= last ? Promise.resolve() : new Promise((done) => waiters.push({ position, done }));
    sse.close = () => req.destroy();
  });
}

/** Every event through one SSE subscription from position 0. Events/s. */
async function sseThroughput(port: number, total: number): Promise<number> {
  const t0 = performance.now();
  const s = await subscribe(port, 0);
  await s.until(total);
  const ms = performance.now() - t0;
  s.close();
  return (total * 1000) / ms;
}

/** fdatasync of a 4 KiB append on the store's disk, `n` times: the floor of a durable commit. */
function fdatasyncMs(dir: string, n = 200): number[] {
  const file = path.join(dir, 'sync-probe');
  const fd = fs.openSync(file, 'w');
  const block = Buffer.alloc(4096, 1);
  const out: number[] = [];
  try {
    for (let k = 0; k < n; k++) {
      fs.writeSync(fd, block);
      const t0 = performance.now();
      fs.fdatasyncSync(fd);
      out.push(performance.now() - t0);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return out;
}

async function latency(s: SpawnedServer, head: number) {
  const target = { host: '127.0.0.1', port: s.port, agent: keepAliveAgent(1) };
  const sse = await subscribe(s.port, head);
  // the subscriber is at the head before the first write
  await new Promise((r) => setTimeout(r, 300));
  sse.record = true;
  const toEvent: number[] = [];
  const afterAck: number[] = [];
  const roundTrip: number[] = [];
  for (let k = 0; k < LATENCY_WRITES; k++) {
    await new Promise((r) => setTimeout(r, 2 + rng.int(11)));
    const t0 = performance.now();
    const r = await httpRequest(target, {
      method: 'PUT',
      path: `/v1/cpus/feed.0/registers/0x${REGS[0]!.toString(16)}`,
      headers: { 'content-type': 'application/json' },
      body: `{"value":"0x${(k + 1).toString(16)}"}`,
    });
    const acked = performance.now();
    if (r.status !== 200) throw new Error(`PUT: ${r.status} ${r.text.slice(0, 200)}`);
    const position = head + k + 1; // the only writer: positions follow one another
    await sse.until(position);
    const at = sse.arrivals.get(position) ?? performance.now();
    toEvent.push(at - t0);
    afterAck.push(at - acked);
    roundTrip.push(acked - t0);
  }
  sse.close();
  target.agent.destroy();
  return { toEvent, afterAck, roundTrip };
}

async function main(): Promise<void> {
  if (!fs.existsSync(SERVER)) throw new Error(`${SERVER} is missing: run npm run bench:build`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-bench-feed-'));
  const file = path.join(dir, 'feed.db');
  const lines: string[] = [];
  const say = (l: string) => {
    console.log(l);
    lines.push(l);
  };
  let server: SpawnedServer | undefined;
  try {
    const t = performance.now();
    const total = await populate(file);
    const mib = fs.statSync(file).size / 2 ** 20;
    say(
      `store: ${fmt(total)} events on ${VCPUS} vCPUs (writes of 1–4 registers, HTTP-shaped metadata), ${fmt(mib, 1)} MiB, built in ${fmt((performance.now() - t) / 1000, 1)} s; pages of ${PAGE}; ${ROUNDS} rounds, the raw read, the feed pages and SSE interleaved in each`,
    );
    const profDir = path.join(dir, 'prof');
    server = await spawnServer({
      entry: SERVER,
      cwd: ROOT,
      env: { CPREG_DB: file },
      ...(PROFILE ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {}),
    });
    const raw: number[] = [];
    const pages: number[] = [];
    const sse: number[] = [];
    // warm the page cache and both code paths once
    rawRead(file, total);
    await feedPages(server.port, Math.min(total, 20_000));
    await sseThroughput(server.port, Math.min(total, 20_000));
    for (let k = 0; k < ROUNDS; k++) {
      raw.push(rawRead(file, total));
      pages.push(await feedPages(server.port, total));
      sse.push(await sseThroughput(server.port, total));
      console.log(`round ${k + 1}: raw ${fmt(raw[k]!)} rows/s, pages ${fmt(pages[k]!)}/s, SSE ${fmt(sse[k]!)}/s`);
    }
    const pr = pages.map((x, k) => x / raw[k]!);
    const sr = sse.map((x, k) => x / raw[k]!);
    say(`raw SQLite read of the same rows (the ceiling): ${spread(raw, 0, ' rows/s')}`);
    say(
      `GET /v1/events pages of ${PAGE} / raw read: ${spread(pr)} — target ≥ 0.5: ${median(pr) >= 0.5 ? 'met' : 'NOT met'}; ${spread(pages, 0, ' events/s')}`,
    );
    say(
      `SSE from position 0 / raw read: ${spread(sr)} — target ≥ 0.5: ${median(sr) >= 0.5 ? 'met' : 'NOT met'}; ${spread(sse, 0, ' events/s')}`,
    );

    const lat = await latency(server, total);
    const sync = fdatasyncMs(dir);
    const ms = (xs: number[]) =>
      `median ${fmt(median(xs), 2)} ms, p95 ${fmt(pct(xs, 0.95), 2)} ms, max ${fmt(Math.max(...xs), 2)} ms`;
    say(
      `SSE live latency, ${LATENCY_WRITES} PUTs one after another (2–12 ms apart), from sending the PUT to its event on the SSE connection: ${ms(lat.toEvent)} — target median ≤ 5 ms: ${median(lat.toEvent) <= 5 ? 'met' : 'NOT met'}`,
    );
    say(
      `  the PUT's own round trip (its commit and fdatasync included): ${ms(lat.roundTrip)}; the event after the PUT's answer: ${ms(lat.afterAck)} (the feed wakes when the batch is durable and answered); one fdatasync of 4 KiB on the same disk: ${ms(sync)}`,
    );
    server.child.kill('SIGTERM');
    await server.exited;
    server = undefined;
    const prof = PROFILE ? fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile')) : undefined;
    if (prof) {
      const keep = path.join(ROOT, 'build', 'bench', 'feed.cpuprofile');
      fs.copyFileSync(path.join(profDir, prof), keep);
      for (const l of summarizeProfile(keep, ROOT, 15)) say(`profile: ${l}`);
    }
  } finally {
    if (server) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  appendResults('Feed and SSE (bench/feed.ts)', lines);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
