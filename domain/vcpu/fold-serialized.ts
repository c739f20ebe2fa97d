import { cloneArrays, slotsFor, writeValueAt, type CpregArrays } from '../cpreg-arrays';
import { formatRegId, sizeBytes } from '../regid';
import { deserializeEvent, EVENT_SCHEMA_VERSION, type RegValuesJson } from './event-codec';
import { CorruptHistoryError, evolve } from './evolve';
import type { VcpuState } from './state';

/** A stored event as a fold needs it: its type, schema version and the JSON text of its data. */
export interface SerializedEvent {
  readonly type: string;
  readonly schemaVersion: number;
  readonly dataJson: string;
}

/**
 * The fold of stored events straight from their JSON: the same state as
 * foldEvents(state, events.map(deserializeEvent)), made for replay speed — events that change
 * no register (syncs to the accelerator, exports) are not even parsed, and values are written
 * into their slots through a per-list index of id strings, without intermediate objects.
 */
export function foldSerialized(state: VcpuState | undefined, events: Iterable<SerializedEvent>): VcpuState | undefined {
  let s: { -readonly [K in keyof VcpuState]: VcpuState[K] } | undefined = state ? { ...state, arrays: cloneArrays(state.arrays) } : undefined;
  for (const e of events) {
    if (e.schemaVersion !== EVENT_SCHEMA_VERSION) throw new CorruptHistoryError(`${e.type} schema version ${e.schemaVersion} is unknown`);
    switch (e.type) {
      case 'SyncedToAccelerator':
      case 'BlobExported':
        if (!s) throw new CorruptHistoryError(`${e.type} before VcpuCreated`);
        continue;
      case 'RegistersWritten':
        writeAll(need(s, e), parse(e).written);
        continue;
      case 'BlobLoaded':
        writeAll(need(s, e), parse(e).loaded);
        continue;
      case 'SyncedFromAccelerator': {
        const d = parse(e);
        writeAll(need(s, e), d.read);
        if (!Array.isArray(d.failed)) throw new CorruptHistoryError('SyncedFromAccelerator without failed');
        s!.lastSyncFailed = d.failed.map((x: unknown) => hexBig(x));
        continue;
      }
      default: {
        // VcpuCreated (once per vCPU) and anything unknown take the full, strict path.
        const next = evolve(s, deserializeEvent(e.type, e.schemaVersion, JSON.parse(e.dataJson)));
        s = { ...next, arrays: next.arrays };
      }
    }
  }
  return s;
}

function need(s: VcpuState | undefined, e: SerializedEvent): VcpuState {
  if (!s) throw new CorruptHistoryError(`${e.type} before VcpuCreated`);
  return s;
}

function parse(e: SerializedEvent): Record<string, RegValuesJson> & { failed?: unknown } {
  try {
    return JSON.parse(e.dataJson);
  } catch {
    throw new CorruptHistoryError(`${e.type}: data is not JSON`);
  }
}

function hexBig(x: unknown): bigint {
  if (typeof x === 'string' && x.charCodeAt(0) === 48 && x.charCodeAt(1) === 120) {
    try {
      return BigInt(x); // "0x…": BigInt refuses anything that is not hex digits after it
    } catch {
      /* fall through */
    }
  }
  throw new CorruptHistoryError(`stored event is not valid: ${String(x).slice(0, 40)}`);
}

/** Per cpreg list (the ids array is shared by every state of a vCPU): id text → register index, and value bounds. */
interface ListIndex {
  byId: Map<string, number>;
  limit: bigint[];
  oneSlot: Uint8Array;
}
const indexes = new WeakMap<BigUint64Array, ListIndex>();

function indexOf(a: CpregArrays): ListIndex {
  let x = indexes.get(a.cpregIndexes);
  if (!x) {
    const n = a.cpregIndexes.length;
    x = { byId: new Map(), limit: new Array(n), oneSlot: new Uint8Array(n) };
    for (let i = 0; i < n; i++) {
      const id = a.cpregIndexes[i];
      x.byId.set(formatRegId(id), i);
      x.limit[i] = 1n << BigInt(sizeBytes(id) * 8);
      x.oneSlot[i] = slotsFor(id) === 1 ? 1 : 0;
    }
    indexes.set(a.cpregIndexes, x);
  }
  return x;
}

function writeAll(s: VcpuState, rv: RegValuesJson | undefined): void {
  if (!rv || !Array.isArray(rv.ids) || !Array.isArray(rv.values) || rv.ids.length !== rv.values.length) {
    throw new CorruptHistoryError('stored event is not valid: register values');
  }
  const a = s.arrays;
  const x = indexOf(a);
  for (let k = 0; k < rv.ids.length; k++) {
    const i = x.byId.get(rv.ids[k]);
    if (i === undefined) throw new CorruptHistoryError(`value for register ${String(rv.ids[k]).slice(0, 20)} not in the list`);
    const v = hexBig(rv.values[k]);
    if (v >= x.limit[i]) throw new CorruptHistoryError(`value wider than register ${rv.ids[k]}`);
    if (x.oneSlot[i]) a.cpregValues[a.cpregValueIndexes[i]] = v;
    else writeValueAt(a, i, v);
  }
}
