import { cloneArrays, indexOfReg, writeValueAt } from '../cpreg-arrays';
import type { RegId } from '../regid';
import type { CompatibilityFinding, CompatibilityRule, Destination, RegisterWrite, VcpuRegisters } from './types';
import { predictLoad } from './verdict';

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
 * The warnings a write (PUT, PATCH, sync) causes on the vCPU's own QEMU: the vCPU's values with the
 * write applied, loaded into a QEMU holding its current values (`predictLoad`), restricted to the
 * written registers: a constant set to another value (`constant-differs`), bits the register does
 * not keep (`bits-not-kept`), a value a register written later replaces (`overwritten-on-load`;
 * a write that sets both consistently, e.g. TPIDRURW and TPIDR_EL0, gives none). Ids not in the
 * vCPU's list are ignored here (the decider refuses them). Pure.
 */
export function writeWarnings(vcpu: VcpuRegisters, writes: readonly RegisterWrite[]): CompatibilityFinding[] {
  const next = cloneArrays(vcpu.arrays);
  const written = new Set<RegId>();
  for (const w of writes) {
    const i = indexOfReg(next, w.id);
    if (i < 0) continue;
    writeValueAt(next, i, w.value);
    written.add(w.id);
  }
  if (written.size === 0) return [];
  const dest: Destination =
    vcpu.accelerator === 'kvm'
      ? {
          accelerator: 'kvm',
          arrays: vcpu.arrays,
          ...(vcpu.writableMasks ? { writableMasks: vcpu.writableMasks } : {}),
        }
      : { accelerator: vcpu.accelerator, arrays: vcpu.arrays, ...(vcpu.model ? { model: vcpu.model } : {}) };
  const v = predictLoad(next, dest);
  const out: CompatibilityFinding[] = [];
  for (const f of [...v.reasons, ...v.warnings]) {
    if (!WRITE_RULES.includes(f.rule)) continue;
    const registers = f.registers.filter((r) => written.has(r.id));
    if (registers.length > 0)
      out.push({ rule: f.rule, message: message(f.rule, registers.length), registers, count: registers.length });
  }
  return out;
}
