import {
  asFreshQemuHoldsThem,
  destinationFor,
  hostModel,
  predictLoad,
  vcpuHost,
  writeWarnings,
  type Destination,
  type RegisterWrites,
} from '../domain/compatibility';
import type { CpregArrays } from '../domain/cpreg-arrays';
import type { VcpuEvent, VcpuState } from '../domain/vcpu';
import type { Finding, Prediction } from './fleet';

/** Registers named per warning of a write (its `count` says how many there are). */
const WRITE_WARNING_REGISTERS = 16;

/**
 * The vCPU as a destination of a load (its own QEMU: vcpuHost from its labels and list), with
 * `arrays` (default its own values) as a fresh QEMU of its model holds them.
 */
export function vcpuDestination(state: VcpuState, arrays: CpregArrays = state.arrays): Destination {
  const d = destinationFor(vcpuHost(state.accelerator, state.labels, state.arrays));
  if (d.accelerator === 'kvm') return { ...d, arrays };
  return { ...d, arrays: asFreshQemuHoldsThem(arrays, d.model) };
}

/** QEMU's verdict on loading `incoming` into this vCPU (the migration pre-flight's). */
export function checkOnVcpu(state: VcpuState, incoming: CpregArrays): Prediction {
  return predictLoad(incoming, vcpuDestination(state));
}

/** The values a command's events set (a write, a sync from the accelerator): its own set when one event sets them. */
function writesOf(events: readonly VcpuEvent[]): RegisterWrites {
  const sets: RegisterWrites[] = [];
  for (const e of events) {
    const set = e.type === 'RegistersWritten' ? e.written : e.type === 'SyncedFromAccelerator' ? e.changed : undefined;
    if (set && set.ids.length > 0) sets.push(set);
  }
  if (sets.length <= 1) return sets[0] ?? { ids: [], values: [] };
  return { ids: sets.flatMap((s) => s.ids), values: sets.flatMap((s) => s.values) };
}

/**
 * The warnings of a write on the vCPU's own QEMU (constant-differs, bits-not-kept,
 * overwritten-on-load): what a stream with these values would meet on that QEMU.
 */
export function writeAdvice(before: VcpuState | undefined, events: readonly VcpuEvent[]): Finding[] {
  if (!before) return [];
  const writes = writesOf(events);
  if (writes.ids.length === 0) return [];
  const model = hostModel(vcpuHost(before.accelerator, before.labels, before.arrays));
  // A sync that changes a hundred constants names the first few (`count` says how many).
  return writeWarnings(
    { accelerator: before.accelerator, arrays: before.arrays, ...(model ? { model } : {}) },
    writes,
    { maxRegistersPerFinding: WRITE_WARNING_REGISTERS },
  );
}
