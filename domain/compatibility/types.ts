import type { Accelerator } from '../accelerator';
import type { CpregArrays } from '../cpreg-arrays';
import type { RegId } from '../regid';
import type { RegisterModel } from '../register-model/types';

/**
 * The rules of QEMU's cpu_post_load, as measured (docs/register-model.md):
 *
 * refusals
 * - `more-registers`: the stream carries more registers than the destination's list
 *   ("Invalid value N expecting positive value <= M");
 * - `unknown-register`: the stream carries a register the destination lacks (below its highest id);
 * - `constant-differs`: a register that keeps no bit (a constant) carries another value;
 * - `bits-not-kept`: a register carries a bit it does not keep (RES0/RES1 fields, masked
 *   selectors, upper bits of a 32-bit register), so the value does not read back;
 * - `missing-register`: a destination register the stream lacks is written from a slot a fresh
 *   TCG destination never filled (measured: 0) and 0 does not read back (a non-zero constant).
 *
 * warnings (the load is accepted, a value does not survive)
 * - `overwritten-on-load`: a register written later (a higher id: QEMU writes in id order)
 *   writes the same state, so the value becomes another one (TPIDRURW after TPIDR_EL0);
 * - `missing-register`: a destination register the stream lacks becomes 0 (TCG);
 * - `ignored-register`: ids above the destination's highest id are ignored by QEMU's merge.
 */
export type CompatibilityRule =
  | 'more-registers'
  | 'unknown-register'
  | 'constant-differs'
  | 'bits-not-kept'
  | 'missing-register'
  | 'overwritten-on-load'
  | 'ignored-register';

/**
 * Where a register's behaviour comes from: `measured` (the destination's register model),
 * `rule` (no model, or the model lacks the id: an ID register is a constant, a 32-bit register keeps
 * its low 32 bits, any other register every bit), `kvm-writable-mask` (the kernel's mask).
 */
export type FindingBasis = 'measured' | 'rule' | 'kvm-writable-mask';

/** One register of a finding. Values are the 64-bit slots (wide registers: the whole value). */
export interface RegisterFinding {
  readonly id: RegId;
  /** The value the stream carries (for `missing-register`: what QEMU writes, 0). */
  readonly incoming?: bigint;
  /** What the destination holds before the load. */
  readonly destination?: bigint;
  /** The bits the destination keeps (`bits-not-kept`, `constant-differs`: 0). */
  readonly keeps?: bigint;
  /** What the register reads after the load (undefined when that is not predictable). */
  readonly becomes?: bigint;
  /** The register whose write replaces this one's value (`overwritten-on-load`). */
  readonly by?: RegId;
  readonly basis: FindingBasis;
}

export interface CompatibilityFinding {
  readonly rule: CompatibilityRule;
  readonly message: string;
  /** Ascending by id; empty for `more-registers`; at most maxRegistersPerFinding. */
  readonly registers: readonly RegisterFinding[];
  /** How many registers the rule applies to (more than `registers` holds when it was cut short). */
  readonly count: number;
  /** `more-registers`: the two counts. */
  readonly incomingCount?: number;
  readonly destinationCount?: number;
}

export interface LoadVerdict {
  readonly verdict: 'accepted' | 'refused';
  /** Why QEMU refuses (empty when accepted), in the order QEMU checks them. */
  readonly reasons: readonly CompatibilityFinding[];
  /** Accepted, but these values will not survive the load (also given when refused). */
  readonly warnings: readonly CompatibilityFinding[];
}

/**
 * A destination: its cpreg list and values (an idle stream of that host, or a vCPU), how its
 * accelerator treats a loaded value, and what it knows about its registers.
 * - TCG (and HVF, which takes TCG's path in cpu_post_load): every register is written and must read
 *   back; `model` says which bits each keeps and which registers overwrite which. Without a model
 *   (or for an id the model lacks), the structural rules apply (`FindingBasis` `rule`).
 * - KVM: the kernel decides; the structural rules (count, subset) and the identification registers
 *   apply, with the kernel's writable masks (KVM_ARM_GET_REG_WRITABLE_MASKS, Linux 6.7+) when
 *   given; a destination register the stream lacks keeps its value.
 */
export type Destination =
  | { readonly accelerator: 'tcg' | 'hvf'; readonly arrays: CpregArrays; readonly model?: RegisterModel }
  | {
      readonly accelerator: 'kvm';
      readonly arrays: CpregArrays;
      /** Bits of each ID register userspace may set; an ID register without an entry is a constant. */
      readonly writableMasks?: ReadonlyMap<RegId, bigint>;
    };

/** A vCPU as the write warnings need it: its accelerator, arrays and (TCG) register model. */
export interface VcpuRegisters {
  readonly accelerator: Accelerator;
  readonly arrays: CpregArrays;
  readonly model?: RegisterModel;
  readonly writableMasks?: ReadonlyMap<RegId, bigint>;
}

/** One value of a PUT/PATCH/sync. */
/** Writes as two parallel arrays (a RegValues): values[k] is the value of ids[k]. */
export interface RegisterWrites {
  readonly ids: readonly RegId[];
  readonly values: readonly bigint[];
}
