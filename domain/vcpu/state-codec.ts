import { isAccelerator } from '../accelerator';
import { sharedLayout } from './lists';
import { formatRegId } from '../regid';
import { CorruptHistoryError } from './evolve';
import type { VcpuState } from './state';

/**
 * Snapshot payload. A snapshot is only a cache: anything that does not decode exactly (old
 * schema, edited bytes) throws, and storage then folds from the events instead.
 */
const STATE_SCHEMA_VERSION = 1;

export function serializeState(s: VcpuState): { schemaVersion: number; data: unknown } {
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    data: {
      accelerator: s.accelerator,
      labels: s.labels,
      registers: Array.from(s.arrays.cpregIndexes, formatRegId),
      slots: Array.from(s.arrays.cpregValues, (v) => v.toString(16)),
      lastSyncFailed: s.lastSyncFailed.map(formatRegId),
    },
  };
}

function bad(what: string): never {
  throw new CorruptHistoryError(`snapshot is not valid: ${what}`);
}

export function deserializeState(schemaVersion: number, data: unknown): VcpuState {
  if (schemaVersion !== STATE_SCHEMA_VERSION) bad(`schema version ${schemaVersion}`);
  const d = data as Record<string, unknown>;
  if (!d || typeof d !== 'object' || !isAccelerator(d.accelerator)) bad('accelerator');
  if (!Array.isArray(d.registers) || !Array.isArray(d.slots) || !Array.isArray(d.lastSyncFailed)) bad('arrays');
  if (!d.labels || typeof d.labels !== 'object') bad('labels');
  const ids = BigUint64Array.from(d.registers as string[], (x) => BigInt(x));
  for (let i = 1; i < ids.length; i++) if (ids[i]! <= ids[i - 1]!) bad('ids not ascending');
  const arrays = sharedLayout(ids);
  if (arrays.cpregValues.length !== d.slots.length) bad('slot count');
  const slots = d.slots as string[];
  for (let j = 0; j < slots.length; j++) arrays.cpregValues[j] = BigInt('0x' + slots[j]);
  return {
    accelerator: d.accelerator,
    labels: d.labels as Record<string, string>,
    arrays,
    lastSyncFailed: (d.lastSyncFailed as string[]).map((x) => BigInt(x)),
  };
}
