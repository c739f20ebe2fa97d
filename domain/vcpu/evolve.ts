import { cloneArrays, indexesIn, writeValueAt, type CpregArrays } from '../cpreg-arrays';
import { sharedLayout } from './lists';
import type { RegValues, VcpuEvent } from './events';
import type { VcpuState } from './state';

/** A history that cannot be folded (an event before creation, a value for a missing register). */
export class CorruptHistoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CorruptHistoryError';
  }
}

/** evolve(state, event) → state. Pure: never mutates `state`. */
export function evolve(state: VcpuState | undefined, event: VcpuEvent): VcpuState {
  return step(state, event, false);
}

/** Fold many events, copying the value slots once instead of once per event. */
export function foldEvents(state: VcpuState | undefined, events: Iterable<VcpuEvent>): VcpuState | undefined {
  // Copy the caller's slots once; every later step writes into this fold's own copy.
  let s = state ? { ...state, arrays: cloneArrays(state.arrays) } : undefined;
  for (const e of events) s = step(s, e, true);
  return s;
}

/** `owned`: the state's value slots belong to this fold and may be written in place. */
function step(state: VcpuState | undefined, e: VcpuEvent, owned: boolean): VcpuState {
  if (e.type === 'VcpuCreated') {
    if (state) throw new CorruptHistoryError('VcpuCreated on an existing vCPU');
    const arrays = sharedLayout(BigUint64Array.from(e.registers.ids));
    writeAll(arrays, e.registers);
    return { accelerator: e.accelerator, labels: e.labels, arrays, lastSyncFailed: [] };
  }
  if (!state) throw new CorruptHistoryError(`${e.type} before VcpuCreated`);
  switch (e.type) {
    case 'RegistersWritten':
      return withValues(state, e.written, owned);
    case 'BlobLoaded':
      return withValues(state, e.loaded, owned);
    case 'SyncedFromAccelerator':
      return { ...withValues(state, e.changed, owned), lastSyncFailed: e.failed };
    case 'SyncedToAccelerator':
    case 'BlobExported':
      return state;
  }
}

function withValues(state: VcpuState, rv: RegValues, owned: boolean): VcpuState {
  const arrays = owned ? state.arrays : cloneArrays(state.arrays);
  writeAll(arrays, rv);
  return owned ? state : { ...state, arrays };
}

function writeAll(arrays: CpregArrays, rv: RegValues): void {
  const at = indexesIn(arrays, rv.ids);
  // k < rv.ids.length, and values is parallel to ids (RegValues).
  for (let k = 0; k < rv.ids.length; k++) {
    const i = at[k]!;
    if (i < 0) throw new CorruptHistoryError(`value for register 0x${rv.ids[k]!.toString(16)} not in the list`);
    writeValueAt(arrays, i, rv.values[k]!);
  }
}
