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

/** Positions per ids array, remembered with the list they are positions in (see indexesIn). */
const positions = new WeakMap<readonly RegId[], { list: BigUint64Array; at: Int32Array }>();

/**
 * The position in the list of every id of `ids` (-1 for one not in it), as indexOfReg would give
 * them: made once per ids array and list, and walked in step with the list when the ids are many
 * (a sync's set is looked up by the fold, the warnings and the answer; a binary search per id
 * reads a BigInt per step). `ids` must never be mutated after (RegValues' arrays never are).
 */
export function indexesIn(a: CpregArrays, ids: readonly RegId[]): Int32Array {
  const list = a.cpregIndexes;
  const known = positions.get(ids);
  if (known && known.list === list) return known.at;
  const at = new Int32Array(ids.length);
  if (ids.length * 8 < list.length) {
    for (let k = 0; k < ids.length; k++) at[k] = indexOfReg(a, ids[k]!);
  } else {
    const n = list.length;
    let i = 0;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k]!;
      if (k > 0 && !(ids[k - 1]! < id)) i = 0; // not ascending: walk again from the start
      while (i < n && list[i]! < id) i++;
      at[k] = i < n && list[i] === id ? i : -1;
    }
  }
  positions.set(ids, { list, at });
  return at;
}

/** The list and positions indexesIn knows for `ids`, if any. */
export function knownIndexes(ids: readonly RegId[]): { list: BigUint64Array; at: Int32Array } | undefined {
  return positions.get(ids);
}

/** Tells indexesIn the positions of `ids` in `list`, known to whoever made them (the decider). */
export function rememberIndexes(list: BigUint64Array, ids: readonly RegId[], at: Int32Array): void {
  positions.set(ids, { list, at });
}

const MASK64 = (1n << 64n) - 1n;

/**
 * Register i's slots, from the layout (the next register's first slot): what slotsFor its id
 * says (the layout is made by that rule, and a blob whose indexes disagree is refused), without a
 * bigint read of the id.
 */
export function slotsAt(a: CpregArrays, i: number): number {
  const vi = a.cpregValueIndexes;
  return (i + 1 < vi.length ? vi[i + 1]! : a.cpregValues.length) - vi[i]!;
}

/** Whether register i holds `value` (a one-slot register's slot read alone). */
export function holdsValueAt(a: CpregArrays, i: number, value: bigint): boolean {
  return (slotsAt(a, i) === 1 ? a.cpregValues[a.cpregValueIndexes[i]!]! : readValueAt(a, i)) === value;
}

/** The value of register i as one bigint of its width (limbs in ascending slot order). */
export function readValueAt(a: CpregArrays, i: number): bigint {
  const first = a.cpregValueIndexes[i]!;
  const n = slotsAt(a, i);
  if (n === 1) return a.cpregValues[first]!;
  let v = 0n;
  for (let j = n - 1; j >= 0; j--) v = (v << 64n) | a.cpregValues[first + j]!;
  return v;
}

/** Stores a value that the caller has checked fits the register. Mutates `a.cpregValues`. */
export function writeValueAt(a: CpregArrays, i: number, value: bigint): void {
  const first = a.cpregValueIndexes[i]!;
  const n = slotsAt(a, i);
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
