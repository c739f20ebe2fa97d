/**
 * The PostgreSQL event store against SQLite and against a bare `pg` INSERT loop with the same
 * durability (synchronous_commit on, fsync on: every acknowledged row flushed), and what the
 * global ordering costs. Every figure is rows (appends, requests) acknowledged per second in a
 * closed loop: N workers, each sending its next write once the last is answered.
 *
 *  - store appends: sequential (1 writer), 8 and 64 concurrent writers; one node, two nodes (two
 *    stores, two pools, one database); SQLite's store on the same disk; the bare loop (autocommit
 *    INSERT into a table with a bigserial, the same payload) with as many connections;
 *    ratio = store / bare (the figure);
 *  - the ordering: the bare loop again, each INSERT taking a head row lock first (UPDATE of a
 *    one-row table, one round trip, held through COMMIT) as the store does; ordered / unordered
 *    is what a global order in commit order costs by itself;
 *  - HTTP PUT /v1/cpus/{id}/registers/TPIDR_EL0 with 16 keep-alive clients on 16 vCPUs: SQLite,
 *    PostgreSQL with one node, with two nodes (8 clients each) — the compiled server as a child.
 *
 * The server: CPREG_BENCH_PG_URL or CPREG_TEST_PG_URL (a server where it may create databases),
 * else a throwaway cluster from scripts/ci/start-postgres.sh; without PostgreSQL binaries it says
 * so and exits 0. Run: npm run bench:build && node build/bench/postgres.js [seconds, default 3]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as pg from 'pg';
import { PostgresEventStore } from '../storage/postgres/postgres-event-store';
import { SqliteEventStore } from '../storage/sqlite/sqlite-event-store';
import type { EventStore, NewEvent } from '../storage/event-store';
import { jsonRequest, type RawRequest } from './lib/http-client';
import { runLoad, type LoadResult } from './lib/http-load';
import { spawnServer, type SpawnedServer } from './lib/http-server';
import { appendResults } from './lib/machine';

const SECONDS = Number(process.argv.slice(2).find((a) => /^\d+(\.\d+)?$/.test(a)) ?? 3);
const MS = SECONDS * 1000;
const WARMUP_MS = 700;

function findRoot(dir: string): string {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'migrations'))) return d;
  }
  return process.cwd();
}
const ROOT = findRoot(__dirname);
const SERVER = path.resolve(__dirname, '../api/main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-bench-pg-'));
const children: SpawnedServer[] = [];
process.on('exit', () => {
  for (const c of children) c.child.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The server to use, or why there is none. */
function server(): { url: string; own: boolean } | string {
  const given = process.env.CPREG_BENCH_PG_URL || process.env.CPREG_TEST_PG_URL;
  if (given) return { url: given, own: false };
  try {
    const out = execFileSync('bash', [path.join(ROOT, 'scripts/ci/start-postgres.sh'), String(process.pid)], {
      env: { ...process.env, CPREG_PG_NO_INSTALL: '1' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = /^export CPREG_TEST_PG_URL=(.*)$/m.exec(out)?.[1];
    return url ? { url, own: true } : 'start-postgres.sh printed no URL';
  } catch (e) {
    return `no PostgreSQL (set CPREG_BENCH_PG_URL, or install postgresql): ${String((e as { stderr?: string }).stderr ?? e).trim()}`;
  }
}

let dbs = 0;
async function newDatabase(admin: string): Promise<string> {
  const name = `cpreg_bench_${process.pid}_${++dbs}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Operations run by the last rate() call, warm-up included (for appends per transaction). */
let lastTotal = 0;

/** N closed-loop workers for MS (after a warm-up): operations per second. */
async function rate(workers: number, op: (w: number, i: number) => Promise<unknown>, ms = MS): Promise<number> {
  let counting = false;
  let stop = false;
  let n = 0;
  lastTotal = 0;
  const loops = Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      await op(w, i);
      lastTotal++;
      if (counting) n++;
    }
  });
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  counting = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  counting = false;
  const s = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(loops);
  return n / s;
}

/** A small event, as a one-register write is: ~120 bytes of data. */
const small = (w: number, i: number): NewEvent => ({
  type: 'RegistersWritten',
  schemaVersion: 1,
  data: {
    ids: ['0x603000000013de82'],
    values: ['0x' + ((BigInt(w + 1) << 40n) | BigInt(i)).toString(16).padStart(16, '0')],
  },
});
const PAYLOAD = JSON.stringify(small(0, 0).data);

const appendLoop = (stores: EventStore[]) => (w: number, i: number) =>
  stores[w % stores.length]!.append({
    streamId: `s-${w % 16}`,
    expectedVersion: 'any',
    events: [small(w, i)],
    metadata: { actor: 'bench' },
  });

async function bareLoop(url: string, workers: number, ordered: boolean): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: workers });
  await pool.query(
    'CREATE TABLE IF NOT EXISTS bare (position bigserial PRIMARY KEY, stream_id text, data text, hash bytea); ' +
      'CREATE TABLE IF NOT EXISTS bare_head (id boolean PRIMARY KEY, position bigint); ' +
      'INSERT INTO bare_head VALUES (true, 0) ON CONFLICT DO NOTHING; SET synchronous_commit = on',
  );
  const hash = randomBytes(32).toString('hex');
  // one round trip either way: autocommit INSERT (a sequence: positions may commit out of
  // order), or the head row locked by an UPDATE and held through COMMIT (commit order)
  const unorderedSql = `INSERT INTO bare (stream_id, data, hash) VALUES ('s', '${PAYLOAD}', '\\x${hash}')`;
  const orderedSql =
    `BEGIN; UPDATE bare_head SET position = position + 1; ` +
    `INSERT INTO bare (stream_id, data, hash) VALUES ('s', '${PAYLOAD}', '\\x${hash}'); COMMIT`;
  const clients = await Promise.all(Array.from({ length: workers }, () => pool.connect()));
  for (const c of clients) await c.query('SET synchronous_commit = on');
  try {
    return await rate(workers, (w) => clients[w]!.query(ordered ? orderedSql : unorderedSql));
  } finally {
    clients.forEach((c) => c.release());
    await pool.end();
  }
}

const n0 = (x: number) => Math.round(x).toLocaleString('en-US');
const ratio = (a: number, b: number) => (a / b).toFixed(2);

async function http(admin: string): Promise<{ sqlite: LoadResult; one: LoadResult; two: LoadResult[] }> {
  const put =
    (offset: number) =>
    (c: number, n: number): RawRequest => ({
      method: 'PUT',
      path: `/v1/cpus/bench.${c + offset}/registers/TPIDR_EL0`,
      headers: { 'content-type': 'application/json' },
      body: `{"value":"0x${((BigInt(c + offset + 1) << 40n) | BigInt(n)).toString(16)}"}`,
    });
  const start = async (env: NodeJS.ProcessEnv) => {
    const s = await spawnServer({ entry: SERVER, cwd: ROOT, env });
    children.push(s);
    return s;
  };
  const setup = async (port: number) => {
    for (let c = 0; c < 16; c++) {
      const r = await jsonRequest({ host: '127.0.0.1', port }, 'POST', '/v1/cpus', {
        id: `bench.${c}`,
        accelerator: 'tcg',
        registers: ['0x603000000013de82'],
      });
      if (r.status !== 201) throw new Error(`setup: ${r.status} ${r.text}`);
    }
  };
  const stop = async (s: SpawnedServer) => {
    s.child.kill('SIGTERM');
    await s.exited;
  };
  const load = (port: number, clients: number, offset = 0) =>
    runLoad({ port, clients, warmupMs: WARMUP_MS, durationMs: MS, request: put(offset) });

  const lite = await start({ CPREG_DB: path.join(tmp, 'http.db') });
  await setup(lite.port);
  const sqlite = await load(lite.port, 16);
  await stop(lite);

  const url1 = await newDatabase(admin);
  const p1 = await start({ CPREG_DATABASE_URL: url1 });
  await setup(p1.port);
  const one = await load(p1.port, 16);
  await stop(p1);

  const url2 = await newDatabase(admin);
  const [a, b] = await Promise.all([start({ CPREG_DATABASE_URL: url2 }), start({ CPREG_DATABASE_URL: url2 })]);
  await setup(a.port);
  const two = await Promise.all([load(a!.port, 8, 0), load(b!.port, 8, 8)]);
  await Promise.all([stop(a!), stop(b!)]);
  return { sqlite, one, two };
}

async function main(): Promise<void> {
  const s = server();
  if (typeof s === 'string') {
    console.log(`bench/postgres skipped: ${s}`);
    return;
  }
  const lines: string[] = [];
  const load0 = os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ');
  const admin = new pg.Client({ connectionString: s.url });
  await admin.connect();
  const v = await admin.query<{ server_version: string }>('SHOW server_version');
  const sc = await admin.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
  const fsync = await admin.query<{ fsync: string }>('SHOW fsync');
  const dir = await admin.query<{ data_directory: string }>('SHOW data_directory').catch(() => undefined);
  await admin.end();
  lines.push(
    `PostgreSQL ${v.rows[0]?.server_version} on loopback (${s.own ? 'a throwaway cluster from scripts/ci/start-postgres.sh' : 'the given server'}${dir ? `, data in ${dir.rows[0]?.data_directory}` : ''}), fsync=${fsync.rows[0]?.fsync}, synchronous_commit=${sc.rows[0]?.synchronous_commit} (the store sets it on per session); SQLite on ${tmp}; ${SECONDS} s per figure after a ${WARMUP_MS} ms warm-up`,
  );

  // --- store appends and the bare loop
  const results: Record<string, number> = {};
  for (const workers of [1, 8, 64]) {
    const url = await newDatabase(s.url);
    const one = await PostgresEventStore.open({ url, poolSize: 4 });
    results[`pg1-${workers}`] = await rate(workers, appendLoop([one]));
    results[`pg1-per-txn-${workers}`] = lastTotal / one.stats.commits;
    await one.close();

    const url2 = await newDatabase(s.url);
    const a = await PostgresEventStore.open({ url: url2, poolSize: 4 });
    const b = await PostgresEventStore.open({ url: url2, poolSize: 4 });
    results[`pg2-${workers}`] = workers === 1 ? NaN : await rate(workers, appendLoop([a, b]));
    results[`pg2-per-txn-${workers}`] = lastTotal / Math.max(1, a.stats.commits + b.stats.commits);
    await a.close();
    await b.close();

    const lite = new SqliteEventStore({ file: path.join(tmp, `store-${workers}.db`) });
    results[`sqlite-${workers}`] = await rate(workers, appendLoop([lite]));
    await lite.close();

    const bareUrl = await newDatabase(s.url);
    results[`bare-${workers}`] = await bareLoop(bareUrl, workers, false);
    const orderedUrl = await newDatabase(s.url);
    results[`ordered-${workers}`] = await bareLoop(orderedUrl, workers, true);
  }
  for (const workers of [1, 8, 64]) {
    const pg1 = results[`pg1-${workers}`]!;
    const pg2 = results[`pg2-${workers}`]!;
    const bare = results[`bare-${workers}`]!;
    const ordered = results[`ordered-${workers}`]!;
    const lite = results[`sqlite-${workers}`]!;
    lines.push(
      `${workers === 1 ? 'sequential appends (1 writer, each awaited)' : `${workers} concurrent writers`}, one small event each: ` +
        `PostgreSQL store ${n0(pg1)} appends/s (one node, ${results[`pg1-per-txn-${workers}`]!.toFixed(1)} appends per transaction)` +
        (workers === 1
          ? ''
          : `, ${n0(pg2)} appends/s (two nodes, ${workers / 2} writers each, ${results[`pg2-per-txn-${workers}`]!.toFixed(1)} per transaction)`) +
        `; bare pg INSERT loop, ${workers} connection${workers === 1 ? '' : 's'}, same durability: ${n0(bare)} rows/s → ` +
        `**store / bare = ${ratio(pg1, bare)}**; SQLite store ${n0(lite)} appends/s (PostgreSQL / SQLite = ${ratio(pg1, lite)})`,
    );
    lines.push(
      `the global ordering alone, ${workers} connection${workers === 1 ? '' : 's'}: bare INSERT taking a head row lock held through COMMIT ${n0(ordered)} rows/s vs ${n0(bare)} unordered: **${ratio(ordered, bare)}×** (${(100 * (1 - ordered / bare)).toFixed(0)} % fewer)`,
    );
  }

  // --- HTTP
  const h = await http(s.url);
  const tworps = h.two.reduce((x, r) => x + r.rps, 0);
  const fmt = (r: LoadResult) =>
    `${n0(r.rps)} req/s (p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms${r.errors ? `, ${r.errors} ERRORS: ${r.firstError}` : ''})`;
  lines.push(
    `HTTP PUT of one register, 16 keep-alive clients on 16 vCPUs: SQLite ${fmt(h.sqlite)}; PostgreSQL one node ${fmt(h.one)}; ` +
      `two nodes (8 clients each) ${n0(tworps)} req/s (${h.two.map(fmt).join(' + ')}); ` +
      `PostgreSQL one node / SQLite = ${ratio(h.one.rps, h.sqlite.rps)}, two nodes / one node = ${ratio(tworps, h.one.rps)}, ` +
      `one node / bare INSERT at 8 connections = ${ratio(h.one.rps, results['bare-8']!)}`,
  );
  lines.push(
    `load average while it ran (this machine is shared): ${load0} at the start, ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' / ')} at the end (1 / 5 / 15 min)`,
  );
  for (const l of lines) console.log(l);
  appendResults('PostgreSQL event store (bench/postgres.ts)', lines);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
