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

/** Per model: which lists are its own (compared once per list object; lists are never mutated). */
const ownLists = new WeakMap<RegisterModel, WeakMap<BigUint64Array, boolean>>();

function isModelsList(model: RegisterModel, ids: BigUint64Array): boolean {
  let known = ownLists.get(model);
  if (!known) ownLists.set(model, (known = new WeakMap()));
  let same = known.get(ids);
  if (same === undefined) known.set(ids, (same = sameList(model.ids, ids)));
  return same;
}

function sameList(a: BigUint64Array, b: BigUint64Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A model's facts as 32-bit halves in the host's order (that of a BigUint64Array's bytes): keep
 * and reset per register, and 1 in `skip` for a register left as it is (varies, volatile, wide).
 */
interface FreshMasks {
  skip: Uint8Array;
  keep: Uint32Array;
  reset: Uint32Array;
}
const freshMasks = new WeakMap<RegisterModel, FreshMasks>();

function masksOf(model: RegisterModel): FreshMasks {
  let m = freshMasks.get(model);
  if (m) return m;
  const n = model.facts.length;
  const keep = new BigUint64Array(n);
  const reset = new BigUint64Array(n);
  const skip = new Uint8Array(n);
  model.facts.forEach((f, i) => {
    skip[i] = f.varies || f.volatile || slotsFor(f.id) > 1 ? 1 : 0;
    keep[i] = f.keep;
    reset[i] = f.reset;
  });
  m = { skip, keep: new Uint32Array(keep.buffer), reset: new Uint32Array(reset.buffer) };
  freshMasks.set(model, m);
  return m;
}

/**
 * The values as a fresh QEMU of that model holds them (a QEMU loading a stream is a fresh one):
 * bits a register does not keep read as after reset, whatever a write recorded put in them;
 * registers whose value depends on the vCPU keep theirs. Only a model measured with this very list
 * knows that (a nearest or a sibling model has other constants): otherwise the values as they are.
 * Every write's warnings start here: it works on 32-bit halves, no bigint per register.
 */
export function asFreshQemuHoldsThem(arrays: CpregArrays, model: RegisterModel | undefined): CpregArrays {
  if (!model || !isModelsList(model, arrays.cpregIndexes)) return arrays;
  const { skip, keep, reset } = masksOf(model);
  const vi = arrays.cpregValueIndexes;
  const src = arrays.cpregValues;
  const now = new Uint32Array(src.buffer, src.byteOffset, 2 * src.length);
  let out: CpregArrays | undefined;
  let held: Uint32Array | undefined;
  for (let i = 0; i < skip.length; i++) {
    if (skip[i]) continue;
    const w = 2 * vi[i]!; // the same list: fact i is register i's
    const a = now[w]!;
    const b = now[w + 1]!;
    const ha = ((a & keep[2 * i]!) | (reset[2 * i]! & ~keep[2 * i]!)) >>> 0;
    const hb = ((b & keep[2 * i + 1]!) | (reset[2 * i + 1]! & ~keep[2 * i + 1]!)) >>> 0;
    if (ha === a && hb === b) continue;
    if (!out) {
      out = { ...arrays, cpregValues: src.slice() };
      held = new Uint32Array(out.cpregValues.buffer);
    }
    held![w] = ha;
    held![w + 1] = hb;
  }
  return out ?? arrays;
}
