/**
 * Scale, shown: a store of 10M events and 100,000 vCPUs, built in two phases, the same reads
 * measured after each — flat (or linear where the work is) from the first phase to the second:
 *  - phase A: one vCPU with 1,000,000 events + 1,000 vCPUs of ~90 events (≈ 1.1M events);
 *  - phase B: 99,000 more vCPUs (100,000 in all, ≈ 10M events).
 * The events are real: every command decided by the domain on the state before it (98% writes of
 * 1–4 registers, 1% syncs from the accelerator reporting 300 values of which 3 changed, 1% syncs
 * to it), each vCPU created from the real 304-register v22 block of QEMU 7.2 `-cpu max`, with
 * labels vm (10 vCPUs each) and rack (1% of the fleet each); appended through the store's own
 * appendGroup (hash chain, canonical JSON, group commit, fdatasync), snapshots every 100 events.
 *
 * After each phase, in-process on a cold service: the current state of random vCPUs (snapshots),
 * states at random past versions (time travel), feed pages from random positions (the API's raw
 * read), label filters (a page of 100: vm=… has 10 matches, rack=… 1% of the fleet), and the fold
 * of the long vCPU from its first event (no snapshots) at 100k / 1M versions with the process's
 * peak RSS during it; the full replay (every vCPU from its first event) in events/s with its peak
 * RSS; the fleet matrix (POST /v1/compatibility's work: the selected vCPUs' states, the host
 * profiles, a verdict per pair) for vm=… (10 vCPUs) and rack=… (1% of the fleet) against 10 host
 * profiles, per pair. After phase B, the HTTP server on the 10M-event store: latencies of the same
 * reads and matrices, and its RSS while it touches 30,000 distinct vCPUs (the state cache holds 10,000).
 *
 * Disk: ≈ 6 GB in a temp dir under /tmp, removed at the end. Run (minutes):
 *   npm run bench:build && node --expose-gc build/bench/scale.js
 *   SCALE_LONG / SCALE_FLEET_A / SCALE_FLEET_B / SCALE_PER_VCPU to change 1,000,000 / 1,000 / 99,000 / 90.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CpregService } from '../app/service';
import {
  decide,
  foldEvents,
  serializeEvent,
  serializeState,
  type VcpuCommand,
  type VcpuEvent,
  type VcpuState,
} from '../domain/vcpu';
import type { NewEvent } from '../storage/event-store';
import { SqliteEventStore } from '../storage/sqlite/sqlite-event-store';
import { httpRequest } from './lib/http-client';
import { freePort } from './lib/http-server';
import { appendResults } from './lib/machine';
import { mulberry32 } from './lib/rng';
import { fmt, median, pct } from './lib/stats';

const LONG = Number(process.env.SCALE_LONG ?? 1_000_000);
const FLEET_A = Number(process.env.SCALE_FLEET_A ?? 1000);
const FLEET_B = Number(process.env.SCALE_FLEET_B ?? 99_000);
const PER_VCPU = Number(process.env.SCALE_PER_VCPU ?? 90);
const WAVE = 500; // vCPUs appended per batch of groups (one transaction)
const SNAP = 100;

const ROOT = findRoot(__dirname);
const BLOB = new Uint8Array(fs.readFileSync(path.join(ROOT, 'test/fixtures/qemu/aarch64-max-smp2.cpu0.v22.bin')));
const rng = mulberry32(2024);
const rnd = rng.int;
const meta = { actor: 'scale' };

function findRoot(dir: string): string {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d))
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'migrations'))) return d;
  return process.cwd();
}

const fleetId = (i: number) => `vm${Math.floor(i / 10)}.cpu${i % 10}`;
const labelsOf = (i: number) => ({ vm: `vm${Math.floor(i / 10)}`, rack: `r${i % 100}` });

/** The registers of the v22 fixture (the one list every vCPU has), ≤ 8 bytes each. */
let REGS: bigint[] = [];
const value = () => (BigInt(rnd(0x100000000)) << 32n) | BigInt(rnd(0x100000000));
function command(state: VcpuState, k: number): VcpuCommand {
  if (k % 100 === 50) {
    // the accelerator reports every value; 3 changed since the state
    const a = state.arrays;
    const values: Array<readonly [bigint, bigint]> = REGS.map((id, i) => [id, a.cpregValues[a.cpregValueIndexes[i]!]!]);
    for (let c = 0; c < 3; c++) {
      const i = rnd(values.length);
      values[i] = [REGS[i]!, value()];
    }
    return { type: 'SyncFromAccelerator', values };
  }
  if (k % 100 === 99) return { type: 'SyncToAccelerator' };
  const n = 1 + rnd(4);
  const picked = new Set<number>();
  while (picked.size < n) picked.add(rnd(REGS.length));
  return { type: 'WriteRegisters', values: [...picked].map((i) => [REGS[i]!, value() & 0xffffffffn] as const) };
}

/** A vCPU's next `count` events (and its states at every SNAP-th version, for the snapshots). */
function history(
  state: VcpuState | undefined,
  from: number,
  count: number,
  create?: VcpuCommand,
): { events: NewEvent[]; state: VcpuState; snaps: Array<{ version: number; state: VcpuState }> } {
  const events: NewEvent[] = [];
  const snaps: Array<{ version: number; state: VcpuState }> = [];
  let s = state;
  for (let k = 0; k < count; k++) {
    const v = from + k + 1;
    const c = v === 1 ? create! : command(s!, v);
    const out: VcpuEvent[] = decide(c, s);
    s = foldEvents(s, out)!;
    events.push(...out.map(serializeEvent));
    if (v % SNAP === 0) snaps.push({ version: v, state: s });
  }
  return { events, state: s!, snaps };
}

async function putSnapshots(store: SqliteEventStore, id: string, snaps: Array<{ version: number; state: VcpuState }>) {
  for (const sn of snaps) await store.putSnapshot({ streamId: id, version: sn.version, ...serializeState(sn.state) });
}

async function buildLong(store: SqliteEventStore): Promise<void> {
  const create: VcpuCommand = {
    type: 'CreateVcpuFromBlob',
    accelerator: 'tcg',
    format: 'v22',
    blob: BLOB,
    labels: { vm: 'long', rack: 'long' },
  };
  let state: VcpuState | undefined;
  for (let v = 0; v < LONG; v += 10_000) {
    const h = history(state, v, Math.min(10_000, LONG - v), create);
    state = h.state;
    await store.appendGroup({
      appends: [
        {
          streamId: 'long',
          expectedVersion: v,
          events: h.events,
          kind: 'vcpu',
          ...(v === 0 ? { labels: { vm: 'long', rack: 'long' } } : {}),
        },
      ],
      metadata: meta,
    });
    await putSnapshots(store, 'long', h.snaps);
  }
}

async function buildFleet(store: SqliteEventStore, from: number, to: number, log: (s: string) => void) {
  const t0 = performance.now();
  for (let w = from; w < to; w += WAVE) {
    const groups: Array<Promise<unknown>> = [];
    const snaps: Array<[string, Array<{ version: number; state: VcpuState }>]> = [];
    for (let i = w; i < Math.min(to, w + WAVE); i++) {
      const id = fleetId(i);
      const labels = labelsOf(i);
      const create: VcpuCommand = { type: 'CreateVcpuFromBlob', accelerator: 'tcg', format: 'v22', blob: BLOB, labels };
      const h = history(undefined, 0, 1 + PER_VCPU, create);
      if (h.snaps.length) snaps.push([id, h.snaps]);
      groups.push(
        store.appendGroup({
          appends: [{ streamId: id, expectedVersion: 0, events: h.events, kind: 'vcpu', labels }],
          metadata: meta,
        }),
      );
    }
    await Promise.all(groups);
    for (const [id, s] of snaps) await putSnapshots(store, id, s);
    if ((w - from) % 10_000 === 0 && w > from)
      log(
        `  … ${fmt(w - from)} vCPUs of ${fmt(to - from)} in ${fmt((performance.now() - t0) / 1000, 0)} s (${fmt(((w - from) * (1 + PER_VCPU) * 1000) / (performance.now() - t0))} events/s)`,
      );
  }
}

/**
 * A fold or a replay in a fresh process (this file with --fold / --replay): its time, the events
 * folded and its peak RSS (maxRSS), undisturbed by what this process built.
 */
function inChild(args: string[]): { ms: number; events: number; peakMb: number } {
  const r = spawnSync(process.execPath, [__filename, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { ms: number; events: number; peakMb: number };
}

async function childMode(mode: string, file: string, id?: string, version?: number): Promise<void> {
  const store = new SqliteEventStore({ file });
  const service = new CpregService(store, { snapshotEvery: SNAP });
  const t0 = performance.now();
  let events: number;
  if (mode === '--fold') {
    await service.states.load(id!, version, { cache: false, snapshots: false });
    events = version!;
  } else events = (await service.states.replayAll()).events;
  const ms = performance.now() - t0;
  await service.close();
  process.stdout.write(JSON.stringify({ ms, events, peakMb: (process.resourceUsage().maxRSS * 1024) / 1e6 }) + '\n');
}

async function timeEach(n: number, f: (k: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const t0 = performance.now();
    await f(k);
    out.push(performance.now() - t0);
  }
  return out;
}

const msLine = (xs: number[]) => `median ${fmt(median(xs), 3)} ms, p95 ${fmt(pct(xs, 0.95), 3)} ms`;

interface PhaseResult {
  events: number;
  vcpus: number;
  current: number[];
  past: number[];
  feed: number[];
  vmLabel: number[];
  rackLabel: number[];
  rackMatches: number;
  /** ms to walk every match of rack=… (pages of 100, no states). */
  rackAll: number[];
  folds: Array<{ versions: number; ms: number; peakMb: number }>;
  /** ms per matrix of vm=… (10 vCPUs × PROFILES) and of rack=… (1% of the fleet × PROFILES). */
  vmMatrix: number[];
  rackMatrix: number[];
  rackPairs: number;
  /** µs per event folding fleet vCPUs from their first event (creation included). */
  fleetFold: number;
  replay: { events: number; perSec: number; peakMb: number };
}

async function measure(file: string, fleet: number, longVersions: number[]): Promise<PhaseResult> {
  const store = new SqliteEventStore({ file });
  const service = new CpregService(store, { snapshotEvery: SNAP });
  try {
    const events = (store.db.prepare('SELECT max(position) AS n FROM events').get() as { n: number }).n;
    const vcpus = (store.db.prepare("SELECT count(*) AS n FROM streams WHERE kind = 'vcpu'").get() as { n: number }).n;
    const pick = () => fleetId(rnd(fleet));
    const current = await timeEach(300, () => service.states.load(pick(), undefined, { cache: false }));
    const past = await timeEach(300, () => service.states.load(pick(), 1 + rnd(1 + PER_VCPU), { cache: false }));
    const feed = await timeEach(300, () => store.readFeedRaw(rnd(events - 100), 100, 1 << 20));
    const vmLabel = await timeEach(300, () =>
      store.listStreams({ labels: { vm: `vm${rnd(fleet / 10)}` }, limit: 100 }),
    );
    const rackLabel = await timeEach(100, () => store.listStreams({ labels: { rack: `r${rnd(100)}` }, limit: 100 }));
    // every match, page by page: the cost should follow the matches, not the fleet
    const walk = async (labels: Record<string, string>) => {
      let n = 0;
      let after: string | undefined;
      do {
        const p = await store.listStreams({ labels, limit: 100, ...(after === undefined ? {} : { after }) });
        n += p.streams.length;
        after = p.next;
      } while (after !== undefined);
      return n;
    };
    const rackAll = await timeEach(20, () => walk({ rack: `r${rnd(100)}` }));
    const rackMatches = await walk({ rack: 'r7' });
    await ensureProfiles(service);
    const matrix = async (labels: Record<string, string>) => {
      const cpus = await service.queries.all(labels);
      const hosts = await service.profiles.all({ fleet: 'scale' });
      return service.fleet.matrix(cpus, hosts).pairs.length;
    };
    const vmMatrix = await timeEach(100, () => matrix({ vm: `vm${rnd(fleet / 10)}` }));
    const rackMatrix = await timeEach(10, () => matrix({ rack: `r${rnd(100)}` }));
    const rackPairs = await matrix({ rack: 'r7' });
    const folds: PhaseResult['folds'] = [];
    for (const v of longVersions) {
      const r = inChild(['--fold', file, 'long', String(v)]);
      folds.push({ versions: v, ms: r.ms, peakMb: r.peakMb });
    }
    const sample = Array.from({ length: 1000 }, pick);
    const tf = performance.now();
    for (const id of sample) await service.states.load(id, undefined, { cache: false, snapshots: false });
    const fleetFold = ((performance.now() - tf) * 1000) / (sample.length * (1 + PER_VCPU));
    const rp = inChild(['--replay', file]);
    return {
      events,
      vcpus,
      current,
      past,
      feed,
      vmLabel,
      rackLabel,
      rackMatches,
      rackAll,
      vmMatrix,
      rackMatrix,
      rackPairs,
      folds,
      fleetFold,
      replay: { events: rp.events, perSec: (rp.events * 1000) / rp.ms, peakMb: rp.peakMb },
    };
  } finally {
    await service.close();
  }
}

const PROFILES = 10;

/** PROFILES host profiles of the fleet's list (labelled fleet=scale): half of them differ in one constant. */
async function ensureProfiles(service: CpregService): Promise<void> {
  if ((await service.profiles.all({ fleet: 'scale' })).length === PROFILES) return;
  const a = foldEvents(
    undefined,
    decide({ type: 'CreateVcpuFromBlob', accelerator: 'tcg', format: 'v22', blob: BLOB }, undefined),
  )!.arrays;
  const values = REGS.map((_, i) => a.cpregValues[a.cpregValueIndexes[i]!]!);
  for (let p = 0; p < PROFILES; p++) {
    const profile = service.fleet.profileFromBlock({
      accelerator: 'tcg',
      qemu: '7.2',
      cpuModel: 'max',
      machine: 'virt-7.2',
      ids: REGS,
      // odd hosts differ from the fleet in one value (the list's last register): both verdicts occur
      values: p % 2 ? values.map((v, i) => (i === values.length - 1 ? v ^ 1n : v)) : values,
      labels: { fleet: 'scale', host: `h${p}` },
    });
    await service.profiles.set(`host${p}`, profile, { kind: 'json' }, { metadata: meta, answer: () => null });
  }
}

/** The HTTP server on the store: read latencies, and its RSS while it touches `touch` distinct vCPUs. */
async function serve(file: string, fleet: number, events: number, touch: number) {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'api', 'main.js')], {
    cwd: ROOT,
    env: { ...process.env, CPREG_DB: file, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const exited = new Promise((r) => child.once('exit', r));
  const t = { host: '127.0.0.1', port };
  const get = async (p: string) => {
    const r = await httpRequest(t, { method: 'GET', path: p, timeoutMs: 60_000 });
    if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${r.text.slice(0, 200)}`);
    return r;
  };
  const t0 = performance.now();
  for (let k = 0; ; k++) {
    if (k > 600) throw new Error(`the server did not start: ${err}`);
    try {
      await get('/healthz');
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const startMs = performance.now() - t0;
  const rss = () => {
    const s = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
    return {
      rss: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024,
      hwm: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024,
    };
  };
  try {
    const atStart = rss();
    const current = await timeEach(300, () => get(`/v1/cpus/${fleetId(rnd(fleet))}`));
    const past = await timeEach(300, () => get(`/v1/cpus/${fleetId(rnd(fleet))}?version=${1 + rnd(1 + PER_VCPU)}`));
    const feed = await timeEach(300, () => get(`/v1/events?after=${rnd(events - 100)}&limit=100`));
    const label = await timeEach(300, () => get(`/v1/cpus?label=vm=vm${rnd(fleet / 10)}&limit=100`));
    const rack = await timeEach(100, () => get(`/v1/cpus?label=rack=r${rnd(100)}&limit=100`));
    const post = async (body: object) => {
      const r = await httpRequest(t, {
        method: 'POST',
        path: '/v1/compatibility',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        timeoutMs: 120_000,
      });
      if (r.status !== 200) throw new Error(`POST /v1/compatibility: ${r.status} ${r.text.slice(0, 200)}`);
      return r;
    };
    const hosts = { label: { fleet: 'scale' } };
    const vmMatrix = await timeEach(100, () =>
      post({ cpus: { label: { vm: `vm${rnd(fleet / 10)}` } }, hostProfiles: hosts }),
    );
    const rackMatrix = await timeEach(5, () =>
      post({ cpus: { label: { rack: `r${rnd(100)}` } }, hostProfiles: hosts }),
    );
    const curve: Array<{ touched: number; rss: number }> = [];
    for (let i = 0; i < touch; i++) {
      await get(`/v1/cpus/${fleetId(i % fleet)}`);
      if ((i + 1) % 5000 === 0) curve.push({ touched: i + 1, rss: rss().rss });
    }
    return { startMs, atStart, current, past, feed, label, rack, vmMatrix, rackMatrix, curve, end: rss() };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-bench-scale-'));
  const file = path.join(dir, 'scale.db');
  const lines: string[] = [];
  const say = (l: string) => {
    console.log(l);
    lines.push(l);
  };
  try {
    REGS = Array.from(
      foldEvents(
        undefined,
        decide({ type: 'CreateVcpuFromBlob', accelerator: 'tcg', format: 'v22', blob: BLOB }, undefined),
      )!.arrays.cpregIndexes,
    );
    say(
      `store in ${dir} (SQLite, WAL, every batch fdatasynced); events decided by the domain (98% writes of 1–4 registers, 1% syncs from the accelerator of 300 values with 3 changed, 1% syncs to it), each vCPU created from the real 304-register v22 block; metadata {actor} only; snapshots every ${SNAP} events`,
    );
    const store = new SqliteEventStore({ file });
    let t = performance.now();
    await buildLong(store);
    say(`phase A: built the long vCPU, ${fmt(LONG)} events, in ${fmt((performance.now() - t) / 1000, 0)} s`);
    t = performance.now();
    await buildFleet(store, 0, FLEET_A, say);
    say(`phase A: built ${fmt(FLEET_A)} vCPUs × ${1 + PER_VCPU} events in ${fmt((performance.now() - t) / 1000, 0)} s`);
    await store.close();
    const a = await measure(
      file,
      FLEET_A,
      [100_000, LONG].filter((v) => v <= LONG),
    );
    const sizeA = fs.statSync(file).size;

    const store2 = new SqliteEventStore({ file });
    t = performance.now();
    await buildFleet(store2, FLEET_A, FLEET_A + FLEET_B, say);
    const buildB = (performance.now() - t) / 1000;
    await store2.close();
    say(
      `phase B: built ${fmt(FLEET_B)} more vCPUs × ${1 + PER_VCPU} events in ${fmt(buildB, 0)} s (${fmt((FLEET_B * (1 + PER_VCPU)) / buildB)} events/s, through appendGroup)`,
    );
    const b = await measure(file, FLEET_A + FLEET_B, [LONG]);
    const sizeB = fs.statSync(file).size;

    for (const [name, r, size] of [
      ['A', a, sizeA],
      ['B', b, sizeB],
    ] as const)
      say(`phase ${name}: ${fmt(r.events)} events, ${fmt(r.vcpus)} vCPUs, database ${fmt(size / 2 ** 30, 2)} GiB`);
    const pair = (what: string, fa: number[], fb: number[]) =>
      say(`${what}: A ${msLine(fa)}; B ${msLine(fb)}; B / A median ${fmt(median(fb) / median(fa), 2)}`);
    pair('current state of a random vCPU, cold (snapshot + the events after it)', a.current, b.current);
    pair('state at a random past version (time travel), cold', a.past, b.past);
    pair('a feed page of 100 events from a random position (the API raw read)', a.feed, b.feed);
    pair('label filter vm=… (10 matches), first page', a.vmLabel, b.vmLabel);
    say(
      `label filter rack=… (${fmt(a.rackMatches)} matches in A, ${fmt(b.rackMatches)} in B), first page of 100: A ${msLine(a.rackLabel)}; B ${msLine(b.rackLabel)}; B / A median ${fmt(median(b.rackLabel) / median(a.rackLabel), 2)}`,
    );
    say(
      `label filter rack=…, every match paged through (pages of 100): A ${msLine(a.rackAll)} = ${fmt((median(a.rackAll) * 1000) / a.rackMatches, 2)} µs/match; B ${msLine(b.rackAll)} = ${fmt((median(b.rackAll) * 1000) / b.rackMatches, 2)} µs/match; per-match B / A ${fmt(median(b.rackAll) / b.rackMatches / (median(a.rackAll) / a.rackMatches), 2)}`,
    );
    say(
      `fleet matrix (vCPUs selected by label, their states, ${PROFILES} host profiles, a verdict per pair), vm=… (10 vCPUs × ${PROFILES} = 100 pairs): A ${msLine(a.vmMatrix)}; B ${msLine(b.vmMatrix)}; B / A median ${fmt(median(b.vmMatrix) / median(a.vmMatrix), 2)}`,
    );
    say(
      `fleet matrix rack=… (1% of the fleet × ${PROFILES}: ${fmt(a.rackPairs)} pairs in A, ${fmt(b.rackPairs)} in B): A ${msLine(a.rackMatrix)} = ${fmt((median(a.rackMatrix) * 1000) / a.rackPairs, 1)} µs/pair; B ${msLine(b.rackMatrix)} = ${fmt((median(b.rackMatrix) * 1000) / b.rackPairs, 1)} µs/pair; per-pair B / A ${fmt(median(b.rackMatrix) / b.rackPairs / (median(a.rackMatrix) / a.rackPairs), 2)}`,
    );
    const folds = [...a.folds.map((f) => ({ ...f, phase: 'A' })), ...b.folds.map((f) => ({ ...f, phase: 'B' }))];
    say(
      `the long vCPU folded from its first event (no snapshots, 10,000 versions per read): ${folds
        .map(
          (f) =>
            `${f.phase} ${fmt(f.versions)} versions ${fmt(f.ms, 0)} ms = ${fmt((f.ms * 1000) / f.versions, 2)} µs/event, peak RSS ${fmt(f.peakMb, 0)} MB`,
        )
        .join('; ')}`,
    );
    say(
      `fleet vCPUs (${1 + PER_VCPU} events each) folded from their first event, 1,000 at random: A ${fmt(a.fleetFold, 2)} µs/event; B ${fmt(b.fleetFold, 2)} µs/event; B / A ${fmt(b.fleetFold / a.fleetFold, 2)}`,
    );
    say(
      `full replay (every vCPU from its first event; A is mostly the long vCPU, B mostly the fleet): A ${fmt(a.replay.events)} events at ${fmt(a.replay.perSec)} events/s, peak RSS ${fmt(a.replay.peakMb, 0)} MB; B ${fmt(b.replay.events)} events at ${fmt(b.replay.perSec)} events/s, peak RSS ${fmt(b.replay.peakMb, 0)} MB; per-event cost B / A ${fmt(a.replay.perSec / b.replay.perSec, 2)}`,
    );

    const h = await serve(file, FLEET_A + FLEET_B, b.events, 30_000);
    say(
      `HTTP server on the ${fmt(b.events)}-event store: ready in ${fmt(h.startMs, 0)} ms, RSS ${fmt(h.atStart.rss, 0)} MB at start`,
    );
    say(`  GET /v1/cpus/{id} (random of ${fmt(FLEET_A + FLEET_B)}): ${msLine(h.current)}`);
    say(`  GET /v1/cpus/{id}?version=… (time travel): ${msLine(h.past)}`);
    say(`  GET /v1/events?after=…&limit=100: ${msLine(h.feed)}`);
    say(
      `  GET /v1/cpus?label=vm=… (10 matches): ${msLine(h.label)}; ?label=rack=… (1% of the fleet, a page of 100, each item with its state): ${msLine(h.rack)}`,
    );
    say(
      `  POST /v1/compatibility vm=… × ${PROFILES} profiles (100 pairs): ${msLine(h.vmMatrix)}; rack=… × ${PROFILES} (${fmt(b.rackPairs)} pairs, every verdict with its reasons): ${msLine(h.rackMatrix)}`,
    );
    say(
      `  server RSS while it reads 30,000 distinct vCPUs: ${h.curve.map((c) => `${fmt(c.touched)} → ${fmt(c.rss, 0)} MB`).join(', ')}; peak (VmHWM) ${fmt(h.end.hwm, 0)} MB`,
    );
    say(
      `  what bounds the server's memory: the state cache (10,000 vCPUs, LRU; their lists shared per CPU model), SQLite's page cache per connection, a fold's 10,000-row chunks, feed and history pages bounded by bytes — none grows with the events stored (the audit log's Merkle tree, on only with a signing key, keeps 64 B per event)`,
    );
    appendResults('Scale (bench/scale.ts)', lines);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

(process.argv[2] === '--fold' || process.argv[2] === '--replay'
  ? childMode(process.argv[2], process.argv[3]!, process.argv[4], Number(process.argv[5]))
  : main()
).then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
