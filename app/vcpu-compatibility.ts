import { identifyModel, predictLoad, writeWarnings, type Destination } from '../domain/compatibility';
import { indexOfReg, readValueAt, slotsFor, type CpregArrays } from '../domain/cpreg-arrays';
import type { QemuVersion, RegisterModel } from '../domain/register-model';
import { sizeField, type RegId } from '../domain/regid';
import { isReadOnlyIdRegister } from '../domain/vmstate/read-only-ids';
import type { VcpuEvent, VcpuState } from '../domain/vcpu';
import type { Finding, Prediction } from './fleet';

const QEMU_VERSIONS: readonly string[] = ['7.2', '10.0'];
const M64 = (1n << 64n) - 1n;
/** Registers named per warning of a write (its `count` says how many there are). */
const WRITE_WARNING_REGISTERS = 16;

/**
 * The measured model of the QEMU a TCG vCPU runs on: from its labels `qemu.version` and
 * `qemu.cpu-model` when given, the machine type its import recorded (`qemu.machine`), and its list
 * (identifyModel). KVM and HVF vCPUs have none (the kernel decides; HVF: the structural rules).
 */
export function vcpuModel(state: VcpuState): RegisterModel | undefined {
  if (state.accelerator !== 'tcg') return undefined;
  const l = state.labels;
  const machineType = l['qemu.machine'];
  // virt-10.0 exists only from QEMU 10.0 on (virt-7.2 runs on both): a hint, not a proof.
  const given = l['qemu.version'];
  const qemu = given && QEMU_VERSIONS.includes(given) ? given : machineType === 'virt-10.0' ? '10.0' : undefined;
  return identifyModel(state.arrays, {
    ...(qemu ? { qemu: qemu as QemuVersion } : {}),
    ...(l['qemu.cpu-model'] ? { cpu: l['qemu.cpu-model'] } : {}),
    ...(machineType ? { machineType } : {}),
  });
}

function sameList(a: BigUint64Array, b: BigUint64Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The values as a fresh QEMU of that model holds them: bits a register does not keep read as they
 * do after reset (a QEMU loading a stream is a fresh one), whatever a write recorded here put in
 * them; registers whose value depends on the vCPU keep theirs.
 */
function asQemuHoldsThem(arrays: CpregArrays, model: RegisterModel | undefined): CpregArrays {
  // Only a model measured with this very list knows what its fresh QEMU holds (a nearest or a
  // sibling model has other constants): otherwise the values are taken as they are.
  if (!model || !sameList(model.ids, arrays.cpregIndexes)) return arrays;
  let out: CpregArrays | undefined;
  for (let i = 0; i < arrays.cpregIndexes.length; i++) {
    const id = arrays.cpregIndexes[i]!;
    const f = model.fact(id);
    if (!f || f.varies || f.volatile || slotsFor(id) > 1) continue;
    const slot = arrays.cpregValueIndexes[i]!;
    const now = (out ?? arrays).cpregValues[slot]!;
    const held = (now & f.keep) | (f.reset & ~f.keep);
    if (held === now) continue;
    out ??= { ...arrays, cpregValues: arrays.cpregValues.slice() };
    out.cpregValues[slot] = held;
  }
  return out ?? arrays;
}

/** The vCPU as a destination of a load: its accelerator, its values and its QEMU's model. */
export function vcpuDestination(state: VcpuState, arrays: CpregArrays = state.arrays): Destination {
  if (state.accelerator === 'kvm') return { accelerator: 'kvm', arrays };
  const model = vcpuModel(state);
  if (!model) return { accelerator: state.accelerator, arrays };
  return { accelerator: state.accelerator, arrays: asQemuHoldsThem(arrays, model), model };
}

/** QEMU's verdict on loading `incoming` into this vCPU (the migration pre-flight's). */
export function checkOnVcpu(state: VcpuState, incoming: CpregArrays): Prediction {
  return predictLoad(incoming, vcpuDestination(state));
}

/** The values a command's events set (a write, a sync from the accelerator). */
function writesOf(events: readonly VcpuEvent[]): { id: RegId; value: bigint }[] {
  const out: { id: RegId; value: bigint }[] = [];
  for (const e of events) {
    const set = e.type === 'RegistersWritten' ? e.written : e.type === 'SyncedFromAccelerator' ? e.changed : undefined;
    if (!set) continue;
    set.ids.forEach((id, i) => out.push({ id, value: set.values[i]! }));
  }
  return out;
}

/**
 * Whether a write can give a warning at all: a value that changes a register the model says keeps
 * those bits and is not overwritten gives none. Keeps the measured verdict off the path of the
 * common write (a full prediction costs a copy of the vCPU's values).
 */
function mayWarn(state: VcpuState, model: RegisterModel | undefined, writes: { id: RegId; value: bigint }[]): boolean {
  for (const w of writes) {
    if (slotsFor(w.id) > 1) continue; // wide registers: never checked (the kernel decides)
    const i = indexOfReg(state.arrays, w.id);
    if (i < 0) continue;
    const now = readValueAt(state.arrays, i);
    if (now === w.value) continue;
    const f = model?.fact(w.id);
    let keep: bigint;
    if (f) {
      if (f.kind !== 'writable') return true;
      keep = f.keep;
    } else if (isReadOnlyIdRegister(w.id))
      return true; // a constant by the rules
    else keep = state.accelerator !== 'kvm' && sizeField(w.id) === 2 ? 0xffffffffn : M64;
    if (((now ^ w.value) & ~keep) !== 0n) return true;
  }
  return false;
}

/**
 * The warnings of a write on the vCPU's own QEMU (constant-differs, bits-not-kept,
 * overwritten-on-load): what a stream with these values would meet on that QEMU.
 */
export function writeAdvice(before: VcpuState | undefined, events: readonly VcpuEvent[]): Finding[] {
  if (!before) return [];
  const writes = writesOf(events);
  if (writes.length === 0) return [];
  const model = vcpuModel(before);
  if (!mayWarn(before, model, writes)) return [];
  // A sync that changes a hundred constants names the first few (`count` says how many).
  return writeWarnings(
    { accelerator: before.accelerator, arrays: asQemuHoldsThem(before.arrays, model), ...(model ? { model } : {}) },
    writes,
  ).map((f) =>
    f.registers.length > WRITE_WARNING_REGISTERS
      ? { ...f, registers: f.registers.slice(0, WRITE_WARNING_REGISTERS) }
      : f,
  );
}
