import type { Accelerator } from '../accelerator';
import { slotsFor, type CpregArrays } from '../cpreg-arrays';
import type { Labels } from '../labels';
import type { RegId } from '../regid';
import { isMeasuredQemu } from '../register-model/model';
import type { RegisterModel } from '../register-model/types';
import { identifyModel } from './identify';
import type { Destination } from './types';

/** What is known of a host (a host profile) or of a vCPU's own QEMU. */
export interface HostDescription {
  accelerator: Accelerator;
  /** Its list and values (an idle stream of it, the JSON it was given, a vCPU's state). */
  arrays: CpregArrays;
  /** QEMU's major.minor ("7.2", "10.0"); another version is no hint. */
  qemu?: string;
  /** The -cpu value (options after a comma are fine: "max,pauth=off"). */
  cpuModel?: string;
  /** The machine type its stream records ("virt-7.2", "virt-10.0"). */
  machineType?: string;
  /** KVM: the kernel's writable masks of the ID registers (KVM_ARM_GET_REG_WRITABLE_MASKS). */
  writableMasks?: ReadonlyMap<RegId, bigint> | null;
}

/** The measured model of a TCG host's QEMU (identifyModel with what the host says of itself). */
export function hostModel(h: HostDescription): RegisterModel | undefined {
  if (h.accelerator !== 'tcg') return undefined;
  return identifyModel(h.arrays, {
    ...(h.qemu !== undefined && isMeasuredQemu(h.qemu) ? { qemu: h.qemu } : {}),
    ...(h.cpuModel ? { cpu: h.cpuModel } : {}),
    ...(h.machineType ? { machineType: h.machineType } : {}),
  });
}

/**
 * The destination of a host: KVM with the kernel's writable masks when given; TCG with its measured
 * model (hostModel), when one is found; HVF the structural rules.
 */
export function destinationFor(h: HostDescription): Destination {
  if (h.accelerator === 'kvm') {
    return { accelerator: 'kvm', arrays: h.arrays, ...(h.writableMasks ? { writableMasks: h.writableMasks } : {}) };
  }
  const model = hostModel(h);
  return { accelerator: h.accelerator, arrays: h.arrays, ...(model ? { model } : {}) };
}

/**
 * A vCPU's own QEMU, from its labels: `qemu.version` and `qemu.cpu-model` when given, and the
 * machine type its import recorded (`qemu.machine`); virt-10.0 exists only from QEMU 10.0 on
 * (virt-7.2 runs on both), so it says 10.0.
 */
export function vcpuHost(accelerator: Accelerator, labels: Labels, arrays: CpregArrays): HostDescription {
  const machineType = labels['qemu.machine'];
  const given = labels['qemu.version'];
  const qemu = given !== undefined && isMeasuredQemu(given) ? given : machineType === 'virt-10.0' ? '10.0' : undefined;
  const cpuModel = labels['qemu.cpu-model'];
  return {
    accelerator,
    arrays,
    ...(qemu ? { qemu } : {}),
    ...(cpuModel ? { cpuModel } : {}),
    ...(machineType ? { machineType } : {}),
  };
}

function sameList(a: BigUint64Array, b: BigUint64Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The values as a fresh QEMU of that model holds them (a QEMU loading a stream is a fresh one):
 * bits a register does not keep read as after reset, whatever a write recorded put in them;
 * registers whose value depends on the vCPU keep theirs. Only a model measured with this very list
 * knows that (a nearest or a sibling model has other constants): otherwise the values as they are.
 */
export function asFreshQemuHoldsThem(arrays: CpregArrays, model: RegisterModel | undefined): CpregArrays {
  if (!model || !sameList(model.ids, arrays.cpregIndexes)) return arrays;
  let out: CpregArrays | undefined;
  for (let i = 0; i < arrays.cpregIndexes.length; i++) {
    const f = model.facts[i]!; // the same list: fact i is register i's
    if (f.varies || f.volatile || slotsFor(f.id) > 1) continue;
    const slot = arrays.cpregValueIndexes[i]!;
    const now = (out ?? arrays).cpregValues[slot]!;
    const held = (now & f.keep) | (f.reset & ~f.keep);
    if (held === now) continue;
    out ??= { ...arrays, cpregValues: arrays.cpregValues.slice() };
    out.cpregValues[slot] = held;
  }
  return out ?? arrays;
}
