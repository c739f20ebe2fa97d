import type { RegId } from './regid';
import { sizeBytes } from './regid';

/**
 * QEMU's cpreg arrays with indirect addressing: register i has id cpregIndexes[i] and occupies
 * slots cpregValueIndexes[i] .. cpregValueIndexes[i] + slots(i) - 1 of cpregValues; slot
 * cpregValueIndexes[i] + j holds bits 64j..64j+63 of its value.
 *
 * Every function below takes a register index i below a.cpregIndexes.length (the caller's loop
 * bound or an indexOfReg hit), and the slots of such a register are in range by construction
 * (layoutArrays): hence the non-null assertions on indexed reads.
 */
export interface CpregArrays {
  readonly cpregIndexes: BigUint64Array;
  readonly cpregValueIndexes: Uint32Array;
  readonly cpregValues: BigUint64Array;
}

/** A register narrower than 8 bytes takes one (zero-extended) slot; wider ones size/8 slots. */
export function slotsFor(id: RegId): number {
  const size = sizeBytes(id);
  return size < 8 ? 1 : size >>> 3;
}

/** Lays out arrays for an ascending list of ids; every register holds 0. */
export function layoutArrays(ids: BigUint64Array): CpregArrays {
  const valueIndexes = new Uint32Array(ids.length);
  let m = 0;
  for (let i = 0; i < ids.length; i++) {
    valueIndexes[i] = m;
    m += slotsFor(ids[i]!);
  }
  return { cpregIndexes: ids, cpregValueIndexes: valueIndexes, cpregValues: new BigUint64Array(m) };
}

export function cloneArrays(a: CpregArrays): CpregArrays {
  return {
    cpregIndexes: a.cpregIndexes, // the list never changes after creation: shared, never mutated
    cpregValueIndexes: a.cpregValueIndexes,
    cpregValues: a.cpregValues.slice(),
  };
}

/** Position of `id` in the (ascending) list, or -1. */
export function indexOfReg(a: CpregArrays, id: RegId): number {
  const ids = a.cpregIndexes;
  let lo = 0;
  let hi = ids.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = ids[mid]!; // lo <= mid <= hi < ids.length
    if (v === id) return mid;
    if (v < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

const MASK64 = (1n << 64n) - 1n;

/** The value of register i as one bigint of its width (limbs in ascending slot order). */
export function readValueAt(a: CpregArrays, i: number): bigint {
  const first = a.cpregValueIndexes[i]!;
  const n = slotsFor(a.cpregIndexes[i]!);
  if (n === 1) return a.cpregValues[first]!;
  let v = 0n;
  for (let j = n - 1; j >= 0; j--) v = (v << 64n) | a.cpregValues[first + j]!;
  return v;
}

/** Stores a value that the caller has checked fits the register. Mutates `a.cpregValues`. */
export function writeValueAt(a: CpregArrays, i: number, value: bigint): void {
  const first = a.cpregValueIndexes[i]!;
  const n = slotsFor(a.cpregIndexes[i]!);
  if (n === 1) {
    a.cpregValues[first] = value;
    return;
  }
  let v = value;
  for (let j = 0; j < n; j++) {
    a.cpregValues[first + j] = v & MASK64;
    v >>= 64n;
  }
}
