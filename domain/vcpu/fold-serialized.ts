import { cloneArrays, slotsFor, writeValueAt, type CpregArrays } from '../cpreg-arrays';
import { formatRegId, sizeBytes } from '../regid';
import { deserializeEvent, EVENT_SCHEMA_VERSION, type RegValuesJson } from './event-codec';
import { CorruptHistoryError, evolve } from './evolve';
import type { VcpuState } from './state';

/**
 * A stored event as a fold needs it: its stream version, type, schema version and the JSON text
 * of its data. A tuple, because it is exactly the row a store reads: no object per event.
 */
export type SerializedEvent = readonly [version: number, type: string, schemaVersion: number, dataJson: string];

/**
 * The fold of stored events straight from their JSON: the same state as
 * foldEvents(state, events.map(deserializeEvent)), made for replay speed — events that change
 * no register (syncs to the accelerator, exports) are not even parsed, and values are written
 * into their slots through a per-list index of id strings, without intermediate objects.
 */
export function foldSerialized(state: VcpuState | undefined, events: Iterable<SerializedEvent>): VcpuState | undefined {
  let s: { -readonly [K in keyof VcpuState]: VcpuState[K] } | undefined = state ? { ...state, arrays: cloneArrays(state.arrays) } : undefined;
  for (const e of events) {
    const type = e[1];
    if (e[2] !== EVENT_SCHEMA_VERSION) throw new CorruptHistoryError(`${type} schema version ${e[2]} is unknown`);
    switch (type) {
      case 'SyncedToAccelerator':
      case 'BlobExported':
        if (!s) throw new CorruptHistoryError(`${type} before VcpuCreated`);
        continue;
      case 'RegistersWritten':
        writeAll(need(s, e), scanIdsValues(e[3]) ?? parse(e));
        continue;
      case 'BlobLoaded':
        writeAll(need(s, e), parse(e));
        continue;
      case 'SyncedFromAccelerator': {
        const d = parse(e);
        writeAll(need(s, e), d);
        if (!Array.isArray(d.failed)) throw new CorruptHistoryError('SyncedFromAccelerator without failed');
        s!.lastSyncFailed = d.failed.map((x: unknown) => hexBig(x));
        continue;
      }
      default: {
        // VcpuCreated (once per vCPU) and anything unknown take the full, strict path.
        const next = evolve(s, deserializeEvent(type, e[2], JSON.parse(e[3])));
        s = { ...next, arrays: next.arrays };
      }
    }
  }
  return s;
}

function need(s: VcpuState | undefined, e: SerializedEvent): VcpuState {
  if (!s) throw new CorruptHistoryError(`${e[1]} before VcpuCreated`);
  return s;
}

function parse(e: SerializedEvent): RegValuesJson & { failed?: unknown } {
  try {
    return JSON.parse(e[3]);
  } catch {
    throw new CorruptHistoryError(`${e[1]}: data is not JSON`);
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
  /** 2^bits for registers narrower than 8 bytes (their value must stay below it), else 0. */
  narrow: Float64Array;
}
const indexes = new WeakMap<BigUint64Array, ListIndex>();

function indexOf(a: CpregArrays): ListIndex {
  let x = indexes.get(a.cpregIndexes);
  if (!x) {
    const n = a.cpregIndexes.length;
    x = { byId: new Map(), limit: new Array(n), oneSlot: new Uint8Array(n), narrow: new Float64Array(n) };
    for (let i = 0; i < n; i++) {
      const id = a.cpregIndexes[i];
      x.byId.set(formatRegId(id), i);
      x.limit[i] = 1n << BigInt(sizeBytes(id) * 8);
      x.oneSlot[i] = slotsFor(id) === 1 ? 1 : 0;
      x.narrow[i] = sizeBytes(id) < 8 ? 2 ** (sizeBytes(id) * 8) : 0;
    }
    indexes.set(a.cpregIndexes, x);
  }
  return x;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function writeAll(s: VcpuState, rv: RegValuesJson | undefined): void {
  if (!rv || !Array.isArray(rv.ids) || !Array.isArray(rv.values) || rv.ids.length !== rv.values.length) {
    throw new CorruptHistoryError('stored event is not valid: register values');
  }
  const a = s.arrays;
  const x = indexOf(a);
  // One-slot values go straight into the 32-bit halves of their slot: no BigInt per value.
  const words = LITTLE_ENDIAN_HOST ? new Uint32Array(a.cpregValues.buffer, a.cpregValues.byteOffset, a.cpregValues.length * 2) : undefined;
  for (let k = 0; k < rv.ids.length; k++) {
    const i = x.byId.get(rv.ids[k]);
    if (i === undefined) throw new CorruptHistoryError(`value for register ${String(rv.ids[k]).slice(0, 20)} not in the list`);
    const text = rv.values[k];
    if (words && x.oneSlot[i] && typeof text === 'string' && text.length <= 18) {
      if (!hexHalves(text)) throw new CorruptHistoryError(`stored event is not valid: ${text.slice(0, 40)}`);
      if (x.narrow[i] !== 0 && (halfHi !== 0 || halfLo >= x.narrow[i])) {
        throw new CorruptHistoryError(`value wider than register ${rv.ids[k]}`);
      }
      const slot = 2 * a.cpregValueIndexes[i];
      words[slot] = halfLo;
      words[slot + 1] = halfHi;
      continue;
    }
    const v = hexBig(text);
    if (v >= x.limit[i]) throw new CorruptHistoryError(`value wider than register ${rv.ids[k]}`);
    writeValueAt(a, i, v);
  }
}

let halfHi = 0;
let halfLo = 0;

/** "0x" + 1..16 hex digits → halfHi/halfLo (unsigned 32-bit); false when it is not that. */
function hexHalves(t: string): boolean {
  const n = t.length;
  if (n < 3 || t.charCodeAt(0) !== 48 || t.charCodeAt(1) !== 120) return false;
  let hi = 0;
  let lo = 0;
  for (let p = 2; p < n; p++) {
    const c = t.charCodeAt(p);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return false;
    hi = ((hi << 4) | (lo >>> 28)) >>> 0;
    lo = ((lo << 4) | d) >>> 0;
  }
  halfHi = hi;
  halfLo = lo;
  return true;
}

/**
 * A register write's data is exactly `{"ids":["0x…",…],"values":["0x…",…]}` as JSON.stringify
 * wrote it: read that one shape directly (the most common event, so replay's hottest path), and
 * answer undefined on any deviation, for JSON.parse to handle. Strings here are hex: a quote or
 * backslash inside one is a deviation.
 */
function scanIdsValues(t: string): RegValuesJson | undefined {
  const HEAD = '{"ids":[';
  const MID = '],"values":[';
  if (!t.startsWith(HEAD)) return undefined;
  const ids: string[] = [];
  let p = scanStrings(t, HEAD.length, ids);
  if (p < 0 || !t.startsWith(MID, p)) return undefined;
  const values: string[] = [];
  p = scanStrings(t, p + MID.length, values);
  if (p < 0 || p + 2 !== t.length || t.charCodeAt(p) !== 93 || t.charCodeAt(p + 1) !== 125) return undefined;
  return { ids, values };
}

/** `"a","b"` up to (not including) the closing `]`; the position of that `]`, or -1. */
function scanStrings(t: string, p: number, out: string[]): number {
  if (t.charCodeAt(p) === 93) return p;
  for (;;) {
    if (t.charCodeAt(p) !== 34) return -1;
    const end = t.indexOf('"', p + 1);
    if (end < 0) return -1;
    const s = t.slice(p + 1, end);
    if (s.indexOf('\\') >= 0) return -1;
    out.push(s);
    p = end + 1;
    const c = t.charCodeAt(p);
    if (c === 93) return p;
    if (c !== 44) return -1;
    p++;
  }
}
