/**
 * Where a 300-value sync from the accelerator spends its CPU, stage by stage, in-process (no
 * HTTP, no SQLite): the work bench/http.ts's server does for each such request besides its
 * socket and its transaction. Beside it, in the same rounds, the bare route's own work on the same
 * body (JSON.parse, its small answer's JSON.stringify and bytes). Why: the every-value-changed
 * sync's HTTP ratio (target ≥ 0.6) is bounded by this — a request costs at least its stages
 * plus HTTP and the transaction, against the bare route's whole request.
 *
 * Stages, as the service runs them (api/fast-lane.ts → app/command-handler.ts):
 *  scan (the report read from its text), decide, fold, warnings (issue 10's named warnings),
 *  answer (the SyncResult's bytes: every changed value named, the warnings),
 *  event (the stored canonical JSON), chain hash (the event's canonical text and SHA-256).
 * Bodies: 300 values of the real QEMU 7.2 `-cpu max` list, every one changed (random values, so
 * constants change and warnings name them), and 3 changed (the steady state).
 *
 * Run: npm run bench:build && node build/bench/sync-stages.js   (BENCH_ROUNDS=… for more rounds)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { answerOf } from '../api/command';
import { syncResultBytes } from '../api/routes/syncs';
import { quickSyncFromText } from '../api/sync-quick';
import { vcpuAggregate } from '../app/vcpu-aggregate';
import { writeAdvice } from '../app/vcpu-compatibility';
import { formatRegId } from '../domain/regid';
import { decide, foldEvents, type VcpuCommand, type VcpuState } from '../domain/vcpu';
import { canonicalEventText, chainHash, GENESIS_HASH } from '../storage/canonical';
import { appendResults } from './lib/machine';
import { mulberry32 } from './lib/rng';
import { median, spread } from './lib/stats';

const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 5));
const ITERATIONS = 2000;
const FIXTURE = path.resolve(__dirname, '../../test/fixtures/qemu/aarch64-max-smp2.cpu0.v22.bin');

const created = foldEvents(
  undefined,
  decide({ type: 'CreateVcpuFromBlob', accelerator: 'tcg', format: 'v22', blob: fs.readFileSync(FIXTURE) }, undefined),
)!;
const ids = Array.from(created.arrays.cpregIndexes.slice(0, 300), formatRegId);

/** 64 bodies whose 300 values all differ from the previous body's (as bench/http.ts's). */
const allChanged = Array.from({ length: 64 }, (_, k) => {
  const values: Record<string, string> = {};
  ids.forEach((id, i) => (values[id] = '0x' + ((k * 7919 + i * 104729) >>> 0).toString(16)));
  return JSON.stringify({ direction: 'from-accelerator', values });
});

/** Bodies each changing 3 values of the previous one. */
function steadyBodies(): string[] {
  const rng = mulberry32(99);
  const entry = (i: number, v: number) => `"${ids[i]}":"0x${v.toString(16)}"`;
  const s = ids.map((_, i) => entry(i, (i * 2654435761) >>> 0));
  return Array.from({ length: 64 }, () => {
    for (let k = 0; k < 3; k++) {
      const i = rng.int(ids.length);
      s[i] = entry(i, rng.int(0x100000000));
    }
    return `{"direction":"from-accelerator","values":{${s.join(',')}}}`;
  });
}

const STAGES = ['scan', 'decide', 'fold', 'warnings', 'answer', 'event', 'chain hash'] as const;
type Stage = (typeof STAGES)[number];

/** µs per sync of each stage over `n` syncs of the bodies in turn, each on the state the last left. */
function ours(bodies: readonly string[], n: number): Record<Stage, number> {
  const t: Record<Stage, number> = { scan: 0, decide: 0, fold: 0, warnings: 0, answer: 0, event: 0, 'chain hash': 0 };
  const render = answerOf(syncResultBytes, true); // the fast lane's, as the server answers these
  let state: VcpuState = created;
  let hash: Buffer = GENESIS_HASH;
  let bytes = 0;
  for (let k = 0; k < n; k++) {
    const body = bodies[k % bodies.length]!;
    let a = performance.now();
    const step = (s: Stage) => {
      const b = performance.now();
      t[s] += b - a;
      a = b;
    };
    const command = quickSyncFromText(body) as VcpuCommand;
    step('scan');
    const events = vcpuAggregate.decide(command, state);
    step('decide');
    const next = foldEvents(state, events)!;
    step('fold');
    const warnings = writeAdvice(state, events);
    step('warnings');
    const r = render([{ streamId: 'bench.0', before: state, state: next, version: k + 2, events, warnings }]);
    bytes += r.bytes!.length;
    step('answer');
    const stored = events.map((e) => vcpuAggregate.serializeEvent(e));
    step('event');
    for (const e of stored) {
      const text = canonicalEventText({
        position: k + 2,
        streamId: 'bench.0',
        version: k + 2,
        type: e.type,
        schemaVersion: e.schemaVersion,
        dataText: e.dataText ?? JSON.stringify(e.data),
        metadataText: '{"actor":"anonymous","recordedAt":"2026-12-03T00:00:00.000Z","requestId":"r"}',
      });
      hash = chainHash(hash, text);
    }
    step('chain hash');
    state = next;
  }
  if (bytes === 0 || hash.length !== 32) throw new Error('no answer was made');
  for (const s of STAGES) t[s] = (1000 * t[s]) / n;
  return t;
}

/** µs per request of the bare route's own work on the same bodies (bench/lib/http-bare.ts). */
function bare(bodies: readonly string[], n: number): number {
  const t0 = performance.now();
  let bytes = 0;
  for (let k = 0; k < n; k++) {
    const body = JSON.parse(bodies[k % bodies.length]!) as { direction: string; values: object };
    const answer = { id: 'bench.0', version: k + 2, direction: body.direction, read: Object.keys(body.values).length };
    bytes += Buffer.from(JSON.stringify(answer)).length;
  }
  if (bytes === 0) throw new Error('no answer was made');
  return (1000 * (performance.now() - t0)) / n;
}

function main(): void {
  const lines: string[] = [
    `in-process, ${ITERATIONS} syncs per round (after one warm-up round), ${ROUNDS} rounds, ours and the bare route's work alternating; µs per sync, median (min, max)`,
  ];
  for (const [name, bodies] of [
    ['300 values, every one changed', allChanged],
    ['300 values, 3 changed', steadyBodies()],
  ] as const) {
    ours(bodies, ITERATIONS);
    bare(bodies, ITERATIONS);
    const rounds: Array<{ stages: Record<Stage, number>; bare: number }> = [];
    for (let r = 0; r < ROUNDS; r++) rounds.push({ stages: ours(bodies, ITERATIONS), bare: bare(bodies, ITERATIONS) });
    const total = rounds.map((r) => STAGES.reduce((s, k) => s + r.stages[k], 0));
    const per = STAGES.map((s) => `${s} ${median(rounds.map((r) => r.stages[s])).toFixed(1)}`).join(', ');
    lines.push(
      `${name}: stages ${spread(total, 1, ' µs')} — ${per}; the bare route's JSON.parse + answer ${spread(
        rounds.map((r) => r.bare),
        1,
        ' µs',
      )}`,
    );
  }
  for (const l of lines) console.log(l);
  appendResults('Sync stages (bench/sync-stages.ts)', lines);
}

main();
