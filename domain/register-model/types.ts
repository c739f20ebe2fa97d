import type { RegId } from '../regid';

/** One model as scripts/probe-register-model.ts writes it into the *.generated.ts files. */
export interface GeneratedModel {
  qemu: string;
  binary: string;
  cpu: string;
  /** The -M value it was measured with ("virt", "virt-7.2", "virt,secure=on,…"). */
  machine: string;
  /** The machine type its stream records ("virt-7.2", "virt-10.0"). */
  machineType: string;
  /** Space-separated registers, each `id,keep,reset[,flags]` (see encodeRegs in the script). */
  regs: string;
}

/** QEMU versions measured. */
export type QemuVersion = '7.2' | '10.0';

/**
 * A write of register `by` changes this register's state: afterwards the bits `cover` read
 * `(value of by >> shift) & cover` (shift negative: a left shift). `shift` is null when no shift
 * explains what was measured (then the new value is not predictable, only that it changes).
 */
export interface RegisterWriter {
  readonly by: RegId;
  readonly shift: number | null;
  readonly cover: bigint;
}

/**
 * What QEMU does with one register of a cpreg list on a migration load (TCG), as measured:
 * - `constant`: a raw write keeps no bit, so any value but the destination's own is refused;
 * - `writable`: the bits in `keep` are kept; any other bit differing from the destination's value
 *   is refused;
 * - `overwritten`: writable, but a register later in the list (a higher id: QEMU writes in id
 *   order) writes the same state, so the value loaded here is replaced (see `writers`).
 */
export interface RegisterFact {
  readonly id: RegId;
  readonly kind: 'constant' | 'writable' | 'overwritten';
  /** Bits of the 64-bit slot a raw write keeps (0n: constant). */
  readonly keep: bigint;
  /** Bits assumed not kept without a refused load of that bit (sampled; docs/register-model.md). */
  readonly unverified: bigint;
  /** The value in a fresh `-smp 1` VM of this model. */
  readonly reset: bigint;
  /** The value depends on the vCPU or the vCPU count (L2CTLR's core count, …). */
  readonly varies: boolean;
  /** Changes between a load and the next migration even when nothing was patched (a counter). */
  readonly volatile: boolean;
  /** Registers whose writes change this one's state, ascending by id. */
  readonly writers: readonly RegisterWriter[];
  /**
   * Bits that did not come back out as loaded, no writer explaining it: QEMU recomputes them after
   * the load (a timer's ISTATUS from the timer). 0n for nearly every register.
   */
  readonly unstable: bigint;
  /** Some values within `keep` were refused: the mask alone does not describe the register. */
  readonly anomalous: boolean;
}

/** The register model of one QEMU, binary, CPU model and machine. */
export interface RegisterModel {
  readonly qemu: QemuVersion;
  readonly binary: string;
  readonly cpu: string;
  readonly machine: string;
  readonly machineType: string;
  /** The cpreg list, ascending. */
  readonly ids: BigUint64Array;
  /** One fact per id, in list order. */
  readonly facts: readonly RegisterFact[];
  /** The fact of an id, or undefined when this model's list lacks it. */
  fact(id: RegId): RegisterFact | undefined;
}
