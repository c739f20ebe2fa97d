/**
 * HTTP throughput of the real server against a bare express 5 route that parses the same JSON,
 * with 16 keep-alive clients (closed loop); the two interleaved round by round (≥ 3 rounds),
 * every figure min / median / max of the per-round ratios:
 *  - PUT /v1/cpus/{id}/registers/TPIDR_EL0, 16 clients on 16 vCPUs (target ≥ 0.7);
 *  - POST /v1/cpus/{id}/syncs from-accelerator with 300 values (TCG `-cpu max`), every value
 *    changed since the last sync, and 3 of them changed (the steady state) (target ≥ 0.6); the
 *    steady state also keyed by register name, and with the ids in another order than the list's;
 *  - the bytes on disk per steady-state sync, measured on the server's own database;
 *  - the server's CPU time per request (utime + stime of its process, threads included), next to
 *    the bare route's: what the shared machine disturbs least.
 * Every acknowledged write must be durable — checked by counting the events (every 2xx is one)
 * and, under strace, the fsync/fdatasync calls per acknowledged write. With --profile the server
 * is run under --cpu-prof and the hot functions listed.
 *
 * Run: npm run bench:build && node build/bench/http.js [seconds per run, default 5] [--profile]
 * (BENCH_ROUNDS=… for more rounds). Both servers are child processes; the real one on an on-disk
 * database in a temp dir (WAL, commits at synchronous=NORMAL and the WAL fdatasynced before each
 * answer, as the store runs it), logging at its default level to /dev/null.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { httpRequest, jsonRequest, type RawRequest } from './lib/http-client';
import { fmt, runLoad, type LoadResult } from './lib/http-load';
import { summarizeProfile } from './lib/http-profile';
import { spawnServer, type SpawnedServer } from './lib/http-server';
import { appendResults } from './lib/machine';
import { mulberry32 } from './lib/rng';
import { median, spread } from './lib/stats';

const CLIENTS = 16;
const args = process.argv.slice(2);
const SECONDS = Number(args.find((a) => /^\d+(\.\d+)?$/.test(a)) ?? 5);
const WARMUP_MS = 1500;
const PROFILE = args.includes('--profile');
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));

const ROOT = findRoot(__dirname);
const SERVER = path.resolve(__dirname, '../api/main.js');
const BARE = path.resolve(__dirname, 'lib/http-bare.js');
const FIXTURE = path.join(ROOT, 'test/fixtures/qemu/aarch64-max-smp2.cpu0.v22.bin');

function findRoot(dir: string): string {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'migrations'))) return d;
  }
  return process.cwd();
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-bench-http-'));
const children: SpawnedServer[] = [];
process.on('exit', () => {
  for (const c of children) c.child.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function real(name: string, extra: { wrapper?: string[]; nodeArgs?: string[] } = {}): Promise<SpawnedServer> {
  const s = await spawnServer({ entry: SERVER, cwd: ROOT, env: { CPREG_DB: path.join(tmp, `${name}.db`) }, ...extra });
  children.push(s);
  return s;
}

async function stop(s: SpawnedServer, pid = s.child.pid!): Promise<void> {
  process.kill(pid, 'SIGTERM');
  await s.exited;
}

/** CPU seconds (user + system, every thread) a process has used so far. */
const TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime (fields 14, 15)
}

/** 16 TCG vCPUs made from a real QEMU 7.2 `-cpu max` cpreg block; the 300 values a sync reports. */
async function setup(port: number): Promise<string[]> {
  return (await setupKeys(port)).ids;
}

/** The 300 registers as ids and as the names the service gives them (a report may use either). */
async function setupKeys(port: number): Promise<{ ids: string[]; names: string[] }> {
  const blob = fs.readFileSync(FIXTURE);
  const ids: string[] = [];
  for (let c = 0; c < CLIENTS; c++) {
    const r = await httpRequest(
      { host: '127.0.0.1', port },
      {
        method: 'POST',
        path: `/v1/cpus?format=v22&accelerator=tcg&id=bench.${c}`,
        headers: { 'content-type': 'application/octet-stream' },
        body: blob,
      },
    );
    if (r.status !== 201) throw new Error(`setup: ${r.status} ${r.text}`);
  }
  const state = await jsonRequest<{ registers: Array<{ id: string; name: string; size: number }> }>(
    { host: '127.0.0.1', port },
    'GET',
    '/v1/cpus/bench.0',
  );
  const names: string[] = [];
  for (const r of state.json?.registers ?? [])
    if (r.size <= 8 && ids.length < 300) {
      ids.push(r.id);
      names.push(r.name);
    }
  if (ids.length !== 300) throw new Error(`the fixture has ${ids.length} registers of ≤ 8 bytes, 300 wanted`);
  if (new Set(names).size !== 300) throw new Error('two of the 300 registers share a name');
  return { ids, names };
}

/** The same keys in another (fixed, pseudo-random) order: a report need not be in list order. */
function shuffled(keys: readonly string[]): string[] {
  const rng = mulberry32(7);
  const out = [...keys];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

type Scenario = (c: number, n: number) => RawRequest;

const put =
  (cpu: (c: number) => string): Scenario =>
  (c, n) => ({
    method: 'PUT',
    path: `/v1/cpus/${cpu(c)}/registers/TPIDR_EL0`,
    headers: { 'content-type': 'application/json' },
    // distinct values: every write is a change
    body: `{"value":"0x${((BigInt(c + 1) << 40n) | BigInt(n)).toString(16)}"}`,
  });

/** 300 values, all of them different from the client's previous sync (64 bodies, cycled). */
function syncAllChanged(ids: string[]): Scenario {
  const bodies = Array.from({ length: 64 }, (_, k) => {
    const values: Record<string, string> = {};
    ids.forEach((id, i) => (values[id] = '0x' + ((k * 7919 + i * 104729) >>> 0).toString(16)));
    return JSON.stringify({ direction: 'from-accelerator', values });
  });
  return (c, n) => ({
    method: 'POST',
    path: `/v1/cpus/bench.${c}/syncs`,
    headers: { 'content-type': 'application/json' },
    body: bodies[(c * 13 + n) % bodies.length],
  });
}

/** 300 values of which 3 changed since the client's previous sync (the steady state). */
function syncSteady(ids: string[]): Scenario {
  const rng = mulberry32(99);
  const entry = (i: number, v: number) => `"${ids[i]}":"0x${v.toString(16)}"`;
  const state = Array.from({ length: CLIENTS }, () => ids.map((_, i) => entry(i, (i * 2654435761) >>> 0)));
  return (c) => {
    const s = state[c]!;
    for (let k = 0; k < 3; k++) {
      const i = rng.int(ids.length);
      s[i] = entry(i, rng.int(0x100000000));
    }
    return {
      method: 'POST',
      path: `/v1/cpus/bench.${c}/syncs`,
      headers: { 'content-type': 'application/json' },
      body: `{"direction":"from-accelerator","values":{${s.join(',')}}}`,
    };
  };
}

interface Run extends LoadResult {
  /** Server CPU time per answered request (warm-up included), µs. */
  cpuUs: number;
}

async function load(s: SpawnedServer, request: Scenario, seconds = SECONDS, clients = CLIENTS): Promise<Run> {
  const pid = s.child.pid!;
  const c0 = cpuSeconds(pid);
  const r = await runLoad({ port: s.port, clients, warmupMs: WARMUP_MS, durationMs: seconds * 1000, request });
  const cpuUs = ((cpuSeconds(pid) - c0) * 1e6) / Math.max(1, r.acked + r.errors);
  return { ...r, cpuUs };
}

const cpuLine = (b: Run[], r: Run[]) =>
  `server CPU per request: bare ${spread(
    b.map((x) => x.cpuUs),
    0,
    ' µs',
  )}; cpreg-ledger ${spread(
    r.map((x) => x.cpuUs),
    0,
    ' µs',
  )}; bare / ours ${spread(r.map((x, k) => b[k]!.cpuUs / x.cpuUs))}`;

/** Bytes the server's database holds, checkpointed (used pages × page size), and its event count. */
function dbBytes(file: string): { bytes: number; events: number } {
  const db = new Database(file);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
    const pages = db.pragma('page_count', { simple: true }) as number;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    const size = db.pragma('page_size', { simple: true }) as number;
    const events = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
    return { bytes: (pages - free) * size, events };
  } finally {
    db.close();
  }
}

/** fsync + fdatasync calls per acknowledged PUT, sequential and 16-concurrent (needs strace). */
async function fsyncCounts(): Promise<string[]> {
  if (spawnSync('strace', ['-V']).status !== 0) return ['fsync count: skipped (strace is not installed)'];
  const log = path.join(tmp, 'strace.log');
  const s = await real('strace', { wrapper: ['strace', '-f', '-qq', '-e', 'trace=fsync,fdatasync', '-o', log] });
  const serverPid = Number(
    execFileSync('ps', ['-o', 'pid=', '--ppid', String(s.child.pid)])
      .toString()
      .trim()
      .split(/\s+/)[0],
  );
  await setup(s.port);
  const count = () =>
    fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => /\b(fsync|fdatasync)\(/.test(l)).length;
  const settle = () => new Promise((r) => setTimeout(r, 300));
  const N = 200;
  await settle();
  let before = count();
  for (let n = 0; n < N; n++) {
    const r = await httpRequest({ host: '127.0.0.1', port: s.port }, put(() => 'bench.0')(0, n));
    if (r.status !== 200) throw new Error(`fsync run: ${r.status} ${r.text}`);
  }
  await settle();
  const sequential = (count() - before) / N;
  before = count();
  const c = await runLoad({
    port: s.port,
    clients: CLIENTS,
    warmupMs: 0,
    durationMs: 3000,
    request: put((k) => `bench.${k}`),
  });
  await settle();
  // every answered request (also the ones answered after the measuring window closed) was synced
  const verify = await jsonRequest<{ events: number }>({ host: '127.0.0.1', port: s.port }, 'GET', '/v1/audit/verify');
  if (!verify.json) throw new Error(`verify: ${verify.status} ${verify.text.slice(0, 200)}`);
  const { events } = verify.json;
  const concurrentWrites = events - CLIENTS - N;
  const concurrent = (count() - before) / concurrentWrites;
  await stop(s, serverPid);
  return [
    `fsync/fdatasync per acknowledged write (strace): sequential ${sequential.toFixed(2)} (${N} PUTs one after another); 16 concurrent clients ${concurrent.toFixed(3)} (${concurrentWrites} PUTs, ${Math.round(c.rps)} req/s under strace: group commit shares a sync)`,
  ];
}

/** Runs one scenario against a server started with --cpu-prof and summarizes where its time went. */
async function profile(name: string, request: (ids: string[]) => Scenario): Promise<string[]> {
  const dir = path.join(tmp, `prof-${name}`);
  const s = await real(`profile-${name}`, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  const ids = await setup(s.port);
  await load(s, request(ids), Math.min(SECONDS, 6));
  await stop(s);
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return [`profile ${name}: no .cpuprofile written`];
  const keep = path.join(ROOT, 'build', 'bench', `http-${name}.cpuprofile`);
  fs.copyFileSync(path.join(dir, file), keep);
  return [
    `profile of the server during ${name} (16 clients, ${Math.min(SECONDS, 6)} s):`,
    ...summarizeProfile(keep, ROOT, 15),
    `(full profile: ${path.relative(ROOT, keep)}; open it in Chrome DevTools)`,
  ];
}

async function main(): Promise<void> {
  if (!fs.existsSync(SERVER)) throw new Error(`${SERVER} is missing: run npm run bench:build`);
  const lines: string[] = [];
  const say = (l: string) => {
    console.log(l);
    lines.push(l);
  };
  say(
    `${CLIENTS} keep-alive clients (http.Agent keepAlive, maxSockets ${CLIENTS}), closed loop, ${WARMUP_MS / 1000} s warm-up + ${SECONDS} s per run, ${ROUNDS} rounds, bare and cpreg-ledger alternating in each; load generator in the same machine`,
  );

  const bare = await spawnServer({ entry: BARE });
  children.push(bare);
  const s = await real('main');
  const { ids, names } = await setupKeys(s.port);
  const scenarios: Array<{ name: string; target: number; bare: Scenario; real: Scenario; bytes?: boolean }> = [
    {
      name: 'PUT of one register (TPIDR_EL0), 16 clients on 16 vCPUs',
      target: 0.7,
      bare: put((c) => `bench.${c}`),
      real: put((c) => `bench.${c}`),
    },
    {
      name: 'POST /syncs from-accelerator, 300 values, every one changed, 16 vCPUs',
      target: 0.6,
      bare: syncAllChanged(ids),
      real: syncAllChanged(ids),
    },
    {
      name: 'POST /syncs from-accelerator, 300 values, 3 changed (steady state), 16 vCPUs',
      target: 0.6,
      bare: syncSteady(ids),
      real: syncSteady(ids),
      bytes: true,
    },
    {
      name: 'POST /syncs from-accelerator, 300 values keyed by register name (TPIDR_EL0 …), 3 changed, 16 vCPUs',
      target: 0.6,
      bare: syncSteady(names),
      real: syncSteady(names),
    },
    {
      name: 'POST /syncs from-accelerator, 300 ids in another order than the list, 3 changed, 16 vCPUs',
      target: 0.6,
      bare: syncSteady(shuffled(ids)),
      real: syncSteady(shuffled(ids)),
    },
  ];
  const dbFile = path.join(tmp, 'main.db');
  const allRuns: Run[] = [];
  for (const sc of scenarios) {
    const b: Run[] = [];
    const r: Run[] = [];
    const perSync: number[] = [];
    for (let k = 0; k < ROUNDS; k++) {
      b.push(await load(bare, sc.bare));
      const before = sc.bytes ? dbBytes(dbFile) : undefined;
      r.push(await load(s, sc.real));
      if (before) {
        await new Promise((res) => setTimeout(res, 200)); // background snapshots
        const after = dbBytes(dbFile);
        perSync.push((after.bytes - before.bytes) / (after.events - before.events));
      }
    }
    allRuns.push(...r);
    const ratios = r.map((x, k) => x.rps / b[k]!.rps);
    say(
      `${sc.name} / bare express 5 route: ${spread(ratios)} — target ≥ ${sc.target}: ${median(ratios) >= sc.target ? 'met' : 'NOT met'}`,
    );
    for (let k = 0; k < ROUNDS; k++) say(`  round ${k + 1}: bare ${fmt(b[k]!)}; cpreg-ledger ${fmt(r[k]!)}`);
    say(`  ${cpuLine(b, r)}`);
    if (perSync.length)
      say(
        `  bytes on disk per sync (server database, checkpointed, snapshots included): ${spread(perSync, 0, ' B')} — target ≤ 1,500: ${median(perSync) <= 1500 ? 'met' : 'NOT met'}`,
      );
  }
  await stop(bare);

  const put1 = await load(
    s,
    put(() => 'bench.0'),
  );
  say(`cpreg-ledger PUT TPIDR_EL0, 16 clients on ONE vCPU: ${fmt(put1)}`);
  const seq = await load(
    s,
    put(() => 'bench.0'),
    Math.min(SECONDS, 5),
    1,
  );
  say(`cpreg-ledger PUT TPIDR_EL0, ONE client (sequential: each write waits for its own WAL sync): ${fmt(seq)}`);
  // the whole chain, hundreds of MB once the syncs ran on a fast machine: no request timeout
  const v0 = performance.now();
  const verified = await httpRequest(
    { host: '127.0.0.1', port: s.port },
    { method: 'GET', path: '/v1/audit/verify', headers: {}, timeoutMs: 600_000 },
  );
  const verifyMs = performance.now() - v0;
  let v: { ok: boolean; events: number } | undefined;
  try {
    v = JSON.parse(verified.text) as { ok: boolean; events: number };
  } catch {
    throw new Error(`verify: ${verified.status} ${verified.text.slice(0, 200)}`);
  }
  const versions = await Promise.all(
    Array.from(
      { length: CLIENTS },
      async (_, c) =>
        (await jsonRequest({ host: '127.0.0.1', port: s.port }, 'GET', `/v1/cpus/bench.${c}/events?after=0&limit=1`))
          .status,
    ),
  );
  const runs = [...allRuns, put1, seq];
  const acked = runs.reduce((n, r) => n + r.acked, 0);
  const errors = runs.reduce((n, r) => n + r.errors, 0);
  say(
    `after the runs: hash chain ${v.ok ? 'ok' : 'BROKEN'} (GET /v1/audit/verify of ${v.events} events: ${(verifyMs / 1000).toFixed(1)} s); ${v.events} events = ${CLIENTS} creations + ${acked} acknowledged writes: ${v.events === CLIENTS + acked ? 'every acknowledged write is recorded' : 'MISMATCH'}; errors in runs: ${errors}; ${versions.every((x) => x === 200) ? 'every vCPU readable' : 'a vCPU is unreadable'}`,
  );
  await stop(s);

  for (const l of await fsyncCounts()) say(l);
  if (PROFILE) {
    for (const l of await profile('put', () => put((c) => `bench.${c}`))) say(l);
    for (const l of await profile('sync', syncAllChanged)) say(l);
  }
  appendResults('HTTP (bench/http.ts)', lines);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
