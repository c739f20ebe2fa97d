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
 * (BENCH_ROUNDS=…, default 3: every figure is min / median / max over the rounds, the measures
 * interleaved round by round, every ratio taken within one round).
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
import { spread } from './lib/stats';

const SECONDS = Number(process.argv.slice(2).find((a) => /^\d+(\.\d+)?$/.test(a)) ?? 3);
const MS = SECONDS * 1000;
const WARMUP_MS = 700;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));

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
  pool.on('error', () => undefined);
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

async function http(
  admin: string,
): Promise<{ sqlite: LoadResult[]; one: LoadResult[]; two: Array<{ rps: number }>; errors: number }> {
  const put =
    (offset: number) =>
    (c: number, n: number): RawRequest => ({
      method: 'PUT',
      path: `/v1/cpus/bench.${c + offset}/registers/TPIDR_EL0`,
      headers: { 'content-type': 'application/json' },
      body: `{"value":"0x${((BigInt(c + offset + 1) << 40n) | BigInt(n)).toString(16)}"}`,
    });
  const start = async (env: NodeJS.ProcessEnv) => {
    const sv = await spawnServer({ entry: SERVER, cwd: ROOT, env });
    children.push(sv);
    return sv;
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
  const stop = async (sv: SpawnedServer) => {
    sv.child.kill('SIGTERM');
    await sv.exited;
  };
  const load = (port: number, clients: number, offset = 0) =>
    runLoad({ port, clients, warmupMs: WARMUP_MS, durationMs: MS, request: put(offset) });

  const lite = await start({ CPREG_DB: path.join(tmp, 'http.db') });
  const p1 = await start({ CPREG_DATABASE_URL: await newDatabase(admin) });
  const url2 = await newDatabase(admin);
  const [a, b] = await Promise.all([start({ CPREG_DATABASE_URL: url2 }), start({ CPREG_DATABASE_URL: url2 })]);
  await setup(lite.port);
  await setup(p1.port);
  await setup(a!.port);
  const out = { sqlite: [] as LoadResult[], one: [] as LoadResult[], two: [] as Array<{ rps: number }>, errors: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    out.sqlite.push(await load(lite.port, 16));
    out.one.push(await load(p1.port, 16));
    const two = await Promise.all([load(a!.port, 8, 0), load(b!.port, 8, 8)]);
    out.two.push({ rps: two[0]!.rps + two[1]!.rps });
    out.errors += [...out.sqlite, ...out.one, ...two].reduce((n, x) => n + x.errors, 0);
  }
  await Promise.all([stop(lite), stop(p1), stop(a!), stop(b!)]);
  return out;
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
    `PostgreSQL ${v.rows[0]?.server_version} on loopback (${s.own ? 'a throwaway cluster from scripts/ci/start-postgres.sh' : 'the given server'}${dir ? `, data in ${dir.rows[0]?.data_directory}` : ''}), fsync=${fsync.rows[0]?.fsync}, synchronous_commit=${sc.rows[0]?.synchronous_commit} (the store sets it on per session); SQLite on ${tmp}; ${ROUNDS} rounds, the measures interleaved round by round, ${SECONDS} s per figure after a ${WARMUP_MS} ms warm-up`,
  );

  // --- store appends and the bare loop, round by round (the machine is shared: every figure
  // is min / median / max over the rounds, every ratio taken within one round)
  const series: Record<string, number[]> = {};
  const add = (k: string, x: number) => (series[k] ??= []).push(x);
  const perTxn: Record<string, number> = {};
  for (const workers of [1, 8, 64]) {
    const one = await PostgresEventStore.open({ url: await newDatabase(s.url), poolSize: 4 });
    const url2 = await newDatabase(s.url);
    const a = await PostgresEventStore.open({ url: url2, poolSize: 4 });
    const b = await PostgresEventStore.open({ url: url2, poolSize: 4 });
    const lite = new SqliteEventStore({ file: path.join(tmp, `store-${workers}.db`) });
    const bareUrl = await newDatabase(s.url);
    const orderedUrl = await newDatabase(s.url);
    let ops1 = 0;
    let ops2 = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const pg1 = await rate(workers, appendLoop([one]));
      ops1 += lastTotal;
      const pg2 = workers === 1 ? NaN : await rate(workers, appendLoop([a, b]));
      ops2 += workers === 1 ? 0 : lastTotal;
      const sq = await rate(workers, appendLoop([lite]));
      const bare = await bareLoop(bareUrl, workers, false);
      const ordered = await bareLoop(orderedUrl, workers, true);
      add(`pg1-${workers}`, pg1);
      if (workers > 1) add(`pg2-${workers}`, pg2);
      add(`sqlite-${workers}`, sq);
      add(`bare-${workers}`, bare);
      add(`ordered-${workers}`, ordered);
      add(`store/bare-${workers}`, pg1 / bare);
      add(`pg/sqlite-${workers}`, pg1 / sq);
      add(`ordered/bare-${workers}`, ordered / bare);
      if (workers > 1) add(`two/one-${workers}`, pg2 / pg1);
    }
    perTxn[`pg1-${workers}`] = ops1 / one.stats.commits;
    perTxn[`pg2-${workers}`] = ops2 / Math.max(1, a.stats.commits + b.stats.commits);
    await Promise.all([one.close(), a.close(), b.close(), lite.close()]);
  }
  const S = (k: string, d = 0) => spread(series[k] ?? [], d);
  for (const workers of [1, 8, 64]) {
    const conns = `${workers} connection${workers === 1 ? '' : 's'}`;
    lines.push(
      `${workers === 1 ? 'sequential appends (1 writer, each awaited)' : `${workers} concurrent writers`}, one small event each — ` +
        `PostgreSQL store, one node: ${S(`pg1-${workers}`)} appends/s (${perTxn[`pg1-${workers}`]!.toFixed(1)} per transaction)` +
        (workers === 1
          ? ''
          : `; two nodes (${workers / 2} writers each): ${S(`pg2-${workers}`)} appends/s (${perTxn[`pg2-${workers}`]!.toFixed(1)} per transaction), two / one ${S(`two/one-${workers}`, 2)}`) +
        `; bare pg INSERT loop, ${conns}, same durability: ${S(`bare-${workers}`)} rows/s; ` +
        `**store / bare: ${S(`store/bare-${workers}`, 2)}**; SQLite store ${S(`sqlite-${workers}`)} appends/s, PostgreSQL / SQLite ${S(`pg/sqlite-${workers}`, 2)}`,
    );
    lines.push(
      `the global ordering alone, ${conns}: the bare INSERT taking a head row lock held through COMMIT ${S(`ordered-${workers}`)} rows/s; **ordered / unordered: ${S(`ordered/bare-${workers}`, 2)}**`,
    );
  }

  // --- HTTP
  const h = await http(s.url);
  const lat = (r: LoadResult) => `p50 ${r.p50ms.toFixed(1)} ms, p99 ${r.p99ms.toFixed(1)} ms`;
  lines.push(
    `HTTP PUT of one register, 16 keep-alive clients on 16 vCPUs (the compiled server, default logging) — ` +
      `SQLite: ${spread(
        h.sqlite.map((r) => r.rps),
        0,
      )} req/s (last round ${lat(h.sqlite.at(-1)!)}); ` +
      `PostgreSQL one node: ${spread(
        h.one.map((r) => r.rps),
        0,
      )} req/s (${lat(h.one.at(-1)!)}); ` +
      `two nodes, 8 clients each: ${spread(
        h.two.map((r) => r.rps),
        0,
      )} req/s in all; ` +
      `**PostgreSQL one node / SQLite: ${spread(h.one.map((r, i) => r.rps / h.sqlite[i]!.rps))}**, ` +
      `two nodes / one node: ${spread(h.two.map((r, i) => r.rps / h.one[i]!.rps))}` +
      (h.errors ? `; ${h.errors} ERRORS` : ''),
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
