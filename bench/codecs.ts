/**
 * Blob codec throughput: decode+encode round trips per second, one core.
 *  - the real 304-register v22 block of QEMU 7.2 `-cpu max` (183 AArch64 sysregs, 114 AArch32
 *    U32, 7 AArch32 U64) — target ≥ 100,000 round trips/s;
 *  - a 600-register v23 block with 32 U2048 firmware registers.
 * Run: npm run bench:build && node build/bench/codecs.js
 */
import * as fs from 'fs';
import * as path from 'path';
import { layoutArrays, writeValueAt } from '../domain/cpreg-arrays';
import { sizeBytes } from '../domain/regid';
import { decodeV22, encodeV22 } from '../domain/vmstate/v22';
import { decodeV23, encodeV23 } from '../domain/vmstate/v23';
import { appendResults, opsPerSecond } from './lib/machine';

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

const v22 = opsPerSecond(() => encodeV22(decodeV22(v22Block)));
const v23 = opsPerSecond(() => encodeV23(decodeV23(v23Block)));
const lines = [
  `v22, 304 registers (${v22Block.length} bytes): ${Math.round(v22).toLocaleString('en-US')} decode+encode round trips/s (target ≥ 100,000) — ${v22 >= 100_000 ? 'met' : 'NOT met'}`,
  `v23, 600 registers incl. 32 × U2048 (${v23Block.length} bytes): ${Math.round(v23).toLocaleString('en-US')} round trips/s`,
];
lines.forEach((l) => console.log(l));
appendResults('Codecs (bench/codecs.ts)', lines);
