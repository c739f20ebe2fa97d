/**
 * Blob codecs against their ceiling, measured in the same run, interleaved round by round
 * (5 rounds; each step between two measurements of its ceiling), min / median / max:
 *  - the real 304-register v22 block of QEMU 7.2 `-cpu max` (183 AArch64 sysregs, 114 AArch32
 *    U32, 7 AArch32 U64; 4,868 bytes): decode, encode and the round trip, each against the plain
 *    copy that direction must at least make — allocate the bytes and byte-swap them (ids and
 *    values as one block of big-endian 64-bit words, the count by itself) — target ≥ 0.6;
 *    and the round trips per second (target ≥ 100,000/s);
 *  - a 600-register v23 block with 32 U2048 firmware registers, the same way.
 * Run: npm run bench:build && node build/bench/codecs.js   (BENCH_ROUNDS=… for more rounds)
 */
import * as fs from 'fs';
import * as path from 'path';
import { layoutArrays, writeValueAt } from '../domain/cpreg-arrays';
import { sizeBytes } from '../domain/regid';
import { decodeV22, encodeV22 } from '../domain/vmstate/v22';
import { decodeV23, encodeV23 } from '../domain/vmstate/v23';
import { appendResults, opsPerSecond } from './lib/machine';
import { fmt, median, spread } from './lib/stats';

const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 5));
const MS = 1000;

function arrays(ids: bigint[]) {
  const a = layoutArrays(BigUint64Array.from(ids).sort());
  for (const [i, id] of a.cpregIndexes.entries()) {
    const bits = BigInt(Math.min(sizeBytes(id), 256) * 8);
    writeValueAt(a, i, (BigInt(i + 1) * 0x9e3779b97f4a7c15n) & ((1n << bits) - 1n));
  }
  return a;
}

// The real block of QEMU 7.2 `-M virt -cpu max` (test/fixtures/qemu, made by scripts/make-qemu-fixtures.sh).
const v22Block = new Uint8Array(
  fs.readFileSync(path.join(__dirname, '../../test/fixtures/qemu/aarch64-max-smp2.cpu0.v22.bin')),
);

const big: bigint[] = [];
for (let i = 0; i < 568; i++) big.push(0x6030000000130000n | BigInt(i * 13));
for (let i = 0; i < 32; i++) big.push(0x6080000000140000n | BigInt(0x100 + i));
const v23Block = encodeV23(arrays(big));

const swap64 = Buffer.prototype.swap64;

/**
 * The ceiling of one direction: a fresh buffer of the same bytes, byte-swapped — the 64-bit words
 * by Node's native swap64 (what the codecs use, the same way), the 32-bit ones and a leftover by hand.
 */
function swapCopy(bytes: Uint8Array, u64From: number, u64Bytes: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  // Buffer's swap called on the bytes themselves, as the codecs call it (no Buffer object made)
  swap64.call(out.subarray(u64From, u64From + u64Bytes));
  for (let i = 0; i < u64From; i += 4) {
    const a = out[i]!;
    out[i] = out[i + 3]!;
    out[i + 3] = a;
    const b = out[i + 1]!;
    out[i + 1] = out[i + 2]!;
    out[i + 2] = b;
  }
  return out;
}

interface Codec {
  name: string;
  decode: () => unknown;
  encode: () => unknown;
  roundTrip: () => unknown;
  copy: () => unknown;
  copyTwice: () => unknown;
  target?: number;
}

const v22Arrays = decodeV22(v22Block);
const v23Arrays = decodeV23(v23Block);
// v22: be32 N, then 2N be64 (ids and values). v23: be32 N, be32 M, N + M be64, N be32 (approximated:
// the u64 block swapped natively, the rest by 32-bit words).
const n23 = v23Arrays.cpregIndexes.length;
const m23 = v23Arrays.cpregValues.length;
const codecs: Codec[] = [
  {
    name: `v22, 304 registers (${v22Block.length} bytes)`,
    decode: () => decodeV22(v22Block),
    encode: () => encodeV22(v22Arrays),
    roundTrip: () => encodeV22(decodeV22(v22Block)),
    copy: () => swapCopy(v22Block, 4, v22Block.length - 4),
    copyTwice: () => swapCopy(swapCopy(v22Block, 4, v22Block.length - 4), 4, v22Block.length - 4),
    target: 0.6,
  },
  {
    name: `v23, 600 registers incl. 32 × U2048 (${v23Block.length} bytes)`,
    decode: () => decodeV23(v23Block),
    encode: () => encodeV23(v23Arrays),
    roundTrip: () => encodeV23(decodeV23(v23Block)),
    copy: () => swapCopy(v23Block, 8, 8 * (n23 + m23)),
    copyTwice: () => swapCopy(swapCopy(v23Block, 8, 8 * (n23 + m23)), 8, 8 * (n23 + m23)),
  },
];

const lines: string[] = [];
const say = (l: string) => {
  console.log(l);
  lines.push(l);
};
say(
  `${ROUNDS} rounds; each step measured ${MS} ms between two measurements of its copy (ratio to their mean); one core`,
);
for (const c of codecs) {
  const r = { decode: [] as number[], encode: [] as number[], trip: [] as number[], trips: [] as number[] };
  // each step between two measurements of its ceiling (their mean): drift hits both sides
  const between = (step: () => unknown, ceiling: () => unknown) => {
    const before = opsPerSecond(ceiling, MS);
    const ops = opsPerSecond(step, MS);
    const after = opsPerSecond(ceiling, MS);
    return { ops, ratio: ops / ((before + after) / 2) };
  };
  for (let k = 0; k < ROUNDS; k++) {
    r.decode.push(between(c.decode, c.copy).ratio);
    r.encode.push(between(c.encode, c.copy).ratio);
    const t = between(c.roundTrip, c.copyTwice);
    r.trip.push(t.ratio);
    r.trips.push(t.ops);
  }
  const ok = (x: number[]) =>
    c.target === undefined ? '' : ` — target ≥ ${c.target}: ${median(x) >= c.target ? 'met' : 'NOT met'}`;
  say(`${c.name}: decode / allocate-and-byte-swap copy of the same bytes: ${spread(r.decode)}${ok(r.decode)}`);
  say(`${c.name}: encode / the same copy: ${spread(r.encode)}${ok(r.encode)}`);
  say(`${c.name}: decode+encode round trip / two such copies: ${spread(r.trip)}${ok(r.trip)}`);
  say(
    `${c.name}: ${spread(r.trips, 0, '/s')} round trips${c.target === undefined ? '' : ` (target ≥ 100,000/s: ${median(r.trips) >= 100_000 ? 'met' : 'NOT met'})`}`,
  );
}
say(`(a copy alone: ${fmt(opsPerSecond(codecs[0]!.copy, MS))} per second for the v22 block)`);
appendResults('Codecs (bench/codecs.ts)', lines);
