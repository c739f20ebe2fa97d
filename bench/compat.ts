/**
 * The fleet matrix (issue 10): 1,000 vCPUs × 50 host profiles answered in under a second, target.
 * vCPUs and hosts are real QEMU 7.2 and 10.0 lists (test/fixtures/qemu) with their values, the
 * vCPUs' writable registers varied; the hosts get their measured register model (identifyModel).
 * Measured, interleaved round by round (≥ 3 rounds), min / median / max:
 *  - `Fleet.matrix` with the measured predictor (what POST /v1/compatibility computes), in ms;
 *  - the same with the merge rules only (the pre-flight before the model: list walk and ID
 *    registers), its baseline in the same run — the ratio is what the measured model costs;
 *  - the answer's JSON (the route's rendering, names included), in ms;
 *  - end to end: POST /v1/compatibility to the server (its own process) on a SQLite file holding
 *    the fleet (the vCPUs selected by label, read, judged, rendered and sent; the client counts bytes), at the route's default of 1 register
 *    named per finding and at maxRegisters=0 (rules and counts only).
 * Run: npm run bench:build && node build/bench/compat.js   (BENCH_ROUNDS=… for more rounds)
 */
import * as fs from 'fs';
import { spawn } from 'child_process';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { Fleet, mergeRulesPredictor } from '../app/fleet';
import { measuredPredictor } from '../app/measured-predictor';
import { findingView } from '../api/finding-view';
import { layoutArrays, writeValueAt } from '../domain/cpreg-arrays';
import type { HostProfile } from '../domain/host-profile/profile';
import { readStream } from '../domain/qemu-stream';
import type { VcpuState } from '../domain/vcpu';
import { CpregService } from '../app/service';
import { SqliteEventStore } from '../storage/sqlite/sqlite-event-store';
import { freePort } from './lib/http-server';
import { appendResults } from './lib/machine';
import { mulberry32 } from './lib/rng';
import { fmt, median, spread } from './lib/stats';

const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const CPUS = Number(process.env.BENCH_CPUS ?? 1000);
const PROFILES = Number(process.env.BENCH_PROFILES ?? 50);
const dir = path.join(__dirname, '../../test/fixtures/qemu');

/** Every fixture stream's vCPU 0, with its QEMU version and CPU model (from the manifest's names). */
const sources = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.mig.gz') && !f.includes('-ran'))
  .map((f) => {
    const cpu = readStream([zlib.gunzipSync(fs.readFileSync(path.join(dir, f)))]).cpus[0]!;
    const qemu = f.startsWith('q10-') ? '10.0' : '7.2';
    const model = f
      .replace(/^q10-/, '')
      .replace(/\.mig\.gz$/, '')
      .replace(/-smp\d+/, '')
      .split('-')
      .slice(1)
      .join('-');
    return { file: f, qemu, model, ids: Array.from(cpu.indexes), values: Array.from(cpu.values) };
  });

const rnd = mulberry32(10);
const cpus: { id: string; state: VcpuState }[] = Array.from({ length: CPUS }, (_, k) => {
  const s = sources[k % sources.length]!;
  const a = layoutArrays(BigUint64Array.from(s.ids));
  s.values.forEach((v, i) => writeValueAt(a, i, v));
  // TPIDR_EL0 / TPIDRURW and friends vary as a guest leaves them
  for (let j = 0; j < 3; j++) {
    const i = rnd.int(s.ids.length);
    const id = s.ids[i]!;
    if (id === 0x603000000013de82n || id === 0x40200000200f6802n) writeValueAt(a, i, BigInt(rnd.int(2 ** 31)));
  }
  return { id: `vm${k}.cpu0`, state: { accelerator: 'tcg', labels: {}, arrays: a, lastSyncFailed: [] } };
});
const hosts: { id: string; profile: HostProfile }[] = Array.from({ length: PROFILES }, (_, k) => {
  const s = sources[k % sources.length]!;
  return {
    id: `host${k}`,
    profile: {
      accelerator: 'tcg',
      qemu: s.qemu,
      cpuModel: s.model,
      machine: null,
      ids: s.ids,
      values: s.values,
      writableMasks: null,
      labels: {},
    },
  };
});

const MAXR = 1; // the matrix route's default maxRegisters
const measured = new Fleet(undefined, measuredPredictor);
const rules = new Fleet(undefined, mergeRulesPredictor);
const time = (fn: () => unknown): number => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};

// warm-up (JIT, the models decoded once per process)
measured.matrix(cpus.slice(0, 20), hosts);
rules.matrix(cpus.slice(0, 20), hosts);

const tMeasured: number[] = [];
const tRules: number[] = [];
const tJson: number[] = [];
const ratio: number[] = [];
let accepted = 0;
let pairs = 0;
for (let r = 0; r < ROUNDS; r++) {
  const base1 = time(() => rules.matrix(cpus, hosts));
  let m!: ReturnType<Fleet['matrix']>;
  const t = time(() => (m = measured.matrix(cpus, hosts, { maxRegistersPerFinding: MAXR })));
  const base2 = time(() => rules.matrix(cpus, hosts));
  const j = time(() =>
    JSON.stringify(
      m.pairs.map((p) => ({
        cpu: p.cpu,
        hostProfile: p.hostProfile,
        verdict: p.verdict,
        reasons: p.reasons.map((f) => findingView(p.state, f)),
        warnings: p.warnings.map((f) => findingView(p.state, f)),
      })),
    ),
  );
  tMeasured.push(t);
  tRules.push((base1 + base2) / 2);
  tJson.push(j);
  ratio.push(t / ((base1 + base2) / 2));
  pairs = m.pairs.length;
  accepted = m.pairs.filter((p) => p.verdict === 'accepted').length;
}

const total = tMeasured.map((t, i) => t + tJson[i]!);

/** The same matrix through the API: the fleet in a SQLite file, served by the server's own process. */
async function overHttp(): Promise<{ full: number[]; rulesOnly: number[]; bytes: number[] }> {
  const dirTmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-bench-compat-'));
  const file = path.join(dirTmp, 'cpreg.db');
  const store = new SqliteEventStore({ file });
  const service = new CpregService(store);
  const meta = { metadata: { actor: 'bench' }, answer: () => null };
  for (const c of cpus) {
    const a = c.state.arrays;
    const ids = [...a.cpregIndexes];
    // A JSON create takes 32-bit registers' values as 32 bits (a710's CTR/CLIDR views carry
    // upper bits only through a stream import).
    const width = (id: bigint) => (((id >> 52n) & 0xfn) === 2n ? 0xffffffffn : (1n << 64n) - 1n);
    const values = ids.map((id, i) => [id, a.cpregValues[a.cpregValueIndexes[i]!]! & width(id)] as const);
    await service.execute(
      [
        {
          streamId: c.id,
          command: { type: 'CreateVcpu', accelerator: 'tcg', registers: ids, values, labels: { fleet: 'bench' } },
        },
      ],
      meta,
    );
  }
  for (const h of hosts) await service.profiles.set(h.id, h.profile, { kind: 'json' }, meta);
  await service.close();

  const port = await freePort();
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'api', 'main.js')], {
    cwd: path.join(__dirname, '../..'),
    env: { ...process.env, CPREG_DB: file, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  /** One POST; the answer's bytes are counted, not kept (the client is not what is measured). */
  const post = (q: string) =>
    new Promise<{ ms: number; bytes: number; status: number }>((resolve, reject) => {
      const t0 = performance.now();
      const body = JSON.stringify({ cpus: { label: { fleet: 'bench' } } });
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: `/v1/compatibility${q}`,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let bytes = 0;
          res.on('data', (d: Buffer) => (bytes += d.length));
          res.on('end', () => resolve({ ms: performance.now() - t0, bytes, status: res.statusCode ?? 0 }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  try {
    for (let k = 0; ; k++) {
      try {
        if ((await post('?maxRegisters=0')).status === 200) break; // also the warm-up
      } catch {
        if (k > 300) throw new Error('the server did not start');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const full: number[] = [];
    const rulesOnly: number[] = [];
    const bytes: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const a = await post('');
      if (a.status !== 200) throw new Error(`POST /v1/compatibility: ${a.status}`);
      full.push(a.ms);
      bytes.push(a.bytes);
      rulesOnly.push((await post('?maxRegisters=0')).ms);
    }
    return { full, rulesOnly, bytes };
  } finally {
    child.kill();
    await new Promise((r) => child.once('exit', r));
    fs.rmSync(dirTmp, { recursive: true, force: true });
  }
}

void overHttp().then((h) => {
  const lines = [
    `${CPUS} vCPUs × ${PROFILES} host profiles = ${fmt(pairs)} pairs (real QEMU 7.2 and 10.0 lists of ${sources.length} fixture streams: ${sources.map((s) => `${s.qemu} ${s.model}`).join(', ')}); ${fmt(accepted)} accepted`,
    `measured verdicts (Fleet.matrix, measuredPredictor, ${MAXR} registers per finding): ${spread(tMeasured, 0, ' ms')}; per pair ${fmt((median(tMeasured) * 1000) / pairs, 1)} µs`,
    `their JSON (names included, the route's rendering): ${spread(tJson, 0, ' ms')}`,
    `verdicts + JSON in process: ${spread(total, 0, ' ms')}`,
    `baseline, the merge rules alone (list walk, ID registers) in the same rounds: ${spread(tRules, 0, ' ms')}; measured / merge rules ${spread(ratio, 2)}`,
    `POST /v1/compatibility over HTTP (store read, verdicts, JSON, sent), default maxRegisters=${MAXR}: ${spread(h.full, 0, ' ms')}, ${fmt(median(h.bytes) / 1e6, 1)} MB — target < 1,000 ms: ${median(h.full) < 1000 ? 'met' : 'NOT met'}`,
    `the same with maxRegisters=0 (verdicts, rules and counts): ${spread(h.rulesOnly, 0, ' ms')} — target < 1,000 ms: ${median(h.rulesOnly) < 1000 ? 'met' : 'NOT met'}`,
  ];
  for (const l of lines) console.log(l);
  appendResults('bench/compat.ts: the fleet matrix, 1,000 vCPUs × 50 profiles', lines);
});
