import { cloneArrays, indexesIn, readValueAt, slotsFor, writeValueAt } from '../cpreg-arrays';
import { sizeField } from '../regid';
import { isReadOnlyIdRegister } from '../vmstate/read-only-ids';
import { asFreshQemuHoldsThem } from './destination';
import type { CompatibilityFinding, CompatibilityRule, Destination, RegisterWrites, VcpuRegisters } from './types';
import { predictLoad, prepareOnce } from './verdict';

const M64 = (1n << 64n) - 1n;
const LOW32 = 0xffffffffn;
const WRITE_RULES: readonly CompatibilityRule[] = ['constant-differs', 'bits-not-kept', 'overwritten-on-load'];

function message(rule: CompatibilityRule, n: number): string {
  const regs = n === 1 ? 'register' : 'registers';
  switch (rule) {
    case 'constant-differs':
      return `${n} constant ${regs} set to another value than QEMU's: QEMU will refuse a stream with this value`;
    case 'bits-not-kept':
      return `${n} ${regs} set with bits QEMU does not keep: QEMU will refuse a stream with this value`;
    default:
      return `${n} ${regs} set alone: QEMU will replace the value on load with the state of a register it writes after it`;
  }
}

/**
 * Whether a write can give a warning at all: a value that changes only bits the register keeps (by
 * the model, or by the structural rules without one) and is not overwritten gives none. Keeps the
 * prediction (a copy of the vCPU's values) off the path of the common write.
 */
function mayWarn(vcpu: VcpuRegisters, w: RegisterWrites, at: Int32Array): boolean {
  for (let k = 0; k < w.ids.length; k++) {
    const id = w.ids[k]!;
    const i = at[k]!;
    if (i < 0 || slotsFor(id) > 1) continue; // wide registers: never checked (the kernel decides)
    const now = readValueAt(vcpu.arrays, i);
    const value = w.values[k]!; // values is parallel to ids
    if (now === value) continue;
    const f = vcpu.accelerator === 'kvm' ? undefined : vcpu.model?.fact(id);
    const mask = vcpu.accelerator === 'kvm' ? vcpu.writableMasks?.get(id) : undefined;
    let keep: bigint;
    if (f) {
      if (f.kind !== 'writable') return true;
      keep = f.keep;
    } else if (mask !== undefined) keep = mask;
    else if (isReadOnlyIdRegister(id))
      return true; // a constant by the rules
    else keep = vcpu.accelerator !== 'kvm' && sizeField(id) === 2 ? LOW32 : M64;
    if (((now ^ value) & ~keep) !== 0n) return true;
  }
  return false;
}

export interface WriteWarningOptions {
  /** At most this many registers per warning (its `count` says how many there are). */
  maxRegistersPerFinding?: number;
}

/**
 * The warnings a write (PUT, PATCH, sync) causes on the vCPU's own QEMU: the vCPU's values with the
 * write applied, loaded into a fresh QEMU of its model (asFreshQemuHoldsThem), restricted to the
 * written registers: a constant set to another value (`constant-differs`), bits the register does
 * not keep (`bits-not-kept`), a value a register written later replaces (`overwritten-on-load`;
 * a write that sets both consistently, e.g. TPIDRURW and TPIDR_EL0, gives none). Ids not in the
 * vCPU's list are ignored here (the decider refuses them). A write that can give none (mayWarn)
 * costs a lookup per value. Pure.
 */
export function writeWarnings(
  vcpu: VcpuRegisters,
  w: RegisterWrites,
  opts: WriteWarningOptions = {},
): CompatibilityFinding[] {
  const at = indexesIn(vcpu.arrays, w.ids);
  if (!mayWarn(vcpu, w, at)) return [];
  const held = asFreshQemuHoldsThem(vcpu.arrays, vcpu.model);
  const next = cloneArrays(held);
  const written = new Uint8Array(next.cpregIndexes.length);
  let any = false;
  for (let k = 0; k < w.ids.length; k++) {
    const i = at[k]!;
    if (i < 0) continue;
    writeValueAt(next, i, w.values[k]!);
    written[i] = 1;
    any = true;
  }
  if (!any) return [];
  const dest: Destination =
    vcpu.accelerator === 'kvm'
      ? {
          accelerator: 'kvm',
          arrays: held,
          ...(vcpu.writableMasks ? { writableMasks: vcpu.writableMasks } : {}),
        }
      : { accelerator: vcpu.accelerator, arrays: held, ...(vcpu.model ? { model: vcpu.model } : {}) };
  const v = predictLoad(next, prepareOnce(dest), {
    only: written,
    ...(opts.maxRegistersPerFinding === undefined ? {} : { maxRegistersPerFinding: opts.maxRegistersPerFinding }),
  });
  const out: CompatibilityFinding[] = [];
  for (const f of [...v.reasons, ...v.warnings]) {
    if (!WRITE_RULES.includes(f.rule) || f.count === 0) continue;
    out.push({ rule: f.rule, message: message(f.rule, f.count), registers: f.registers, count: f.count });
  }
  return out;
}
