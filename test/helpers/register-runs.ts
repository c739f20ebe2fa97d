import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { slotsFor } from '../../domain/cpreg-arrays';
import type { RegId } from '../../domain/regid';
import { decide, foldEvents, type VcpuState } from '../../domain/vcpu';
import { decodeV22 } from '../../domain/vmstate/v22';

/**
 * Lists to write runs of registers on, and their arbitraries: a real QEMU 7.2 `-cpu max` list
 * (TCG: 32- and 64-bit registers), and a KVM list that adds firmware pseudo-registers of 1, 2,
 * 16 and 32 bytes (sizes a template entry has, or has not).
 */
const FIXTURE = path.resolve(__dirname, '../fixtures/qemu/aarch64-max-smp2.cpu0.v22.bin');
const tcgIds = [...decodeV22(fs.readFileSync(FIXTURE)).cpregIndexes];
const fw = (size: bigint, i: bigint): RegId => (0x60n << 56n) | (size << 52n) | (0x0014n << 16n) | i;
const kvmIds = [...tcgIds.filter((id) => id >> 56n === 0x60n), fw(0n, 1n), fw(1n, 2n), fw(4n, 3n), fw(5n, 4n)].sort(
  (a, b) => (a < b ? -1 : 1),
);

const vcpu = (accelerator: 'tcg' | 'kvm', registers: RegId[]) =>
  foldEvents(undefined, decide({ type: 'CreateVcpu', accelerator, registers }, undefined))!;
export const runLists: Array<[string, VcpuState]> = [
  ['TCG max', vcpu('tcg', tcgIds)],
  ['KVM with wide and narrow firmware registers', vcpu('kvm', kvmIds)],
];

/** Ascending positions of a list: runs of consecutive ones (as a sync's changes mostly are) and scattered ones. */
export const positions = (n: number) =>
  fc
    .array(fc.tuple(fc.nat(n - 1), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 6 })
    .map((runs) => [...new Set(runs.flatMap(([at, len]) => Array.from({ length: len }, (_, k) => at + k)))])
    .map((ps) => ps.filter((p) => p < n).sort((a, b) => a - b));

/** Any value a register's slots hold: often one that fits its size, sometimes upper bits past it. */
export const valueFor = (id: RegId) => {
  const slotBits = 64n * BigInt(slotsFor(id));
  const sizeBits = 8n << ((id >> 52n) & 0xfn);
  return fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << (sizeBits < slotBits ? sizeBits : slotBits)) - 1n }),
    fc.bigInt({ min: 0n, max: (1n << slotBits) - 1n }),
    fc.constant(0n),
  );
};

/** Registers of the list at some positions, and a value for each. */
export const registersAndValues = (list: BigUint64Array) =>
  positions(list.length).chain((ps) =>
    fc.tuple(fc.constant(ps.map((p) => list[p]!)), fc.tuple(...ps.map((p) => valueFor(list[p]!)))),
  );
