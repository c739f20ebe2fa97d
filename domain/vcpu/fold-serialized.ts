import { cloneArrays, slotsFor, writeValueAt, type CpregArrays } from '../cpreg-arrays';
import { formatRegId } from '../regid';
import { findReg, half, hexHalves, idWordsOf } from '../words';
import { deserializeEvent, EVENT_SCHEMA_VERSION, SYNC_FROM_SCHEMA_VERSION, type RegValuesJson } from './event-codec';
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
  let s: { -readonly [K in keyof VcpuState]: VcpuState[K] } | undefined = state
    ? { ...state, arrays: cloneArrays(state.arrays) }
    : undefined;
  for (const e of events) {
    const type = e[1];
    const delta = e[2] === SYNC_FROM_SCHEMA_VERSION && type === 'SyncedFromAccelerator';
    if (e[2] !== EVENT_SCHEMA_VERSION && !delta)
      throw new CorruptHistoryError(`${type} schema version ${e[2]} is unknown`);
    switch (type) {
      case 'SyncedToAccelerator':
      case 'BlobExported':
        if (!s) throw new CorruptHistoryError(`${type} before VcpuCreated`);
        continue;
      case 'RegistersWritten': {
        const st = need(s, e);
        if (!writeFromText(st.arrays, indexOf(st.arrays), wordsOf(st.arrays.cpregValues), e[3], false, false))
          writeAll(st, parse(e));
        continue;
      }
      case 'BlobLoaded':
        writeAll(need(s, e), parse(e));
        continue;
      case 'SyncedFromAccelerator': {
        const st = need(s, e);
        // schema 2 (delta): the changed values; schema 1: every reported value. Both fold the same.
        const fast = writeFromText(st.arrays, indexOf(st.arrays), wordsOf(st.arrays.cpregValues), e[3], true, delta);
        if (fast) {
          s!.lastSyncFailed = fast;
          continue;
        }
        const d = parse(e);
        if (delta) checkReport(d);
        writeAll(st, d);
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

/** A schema-2 sync's report fields, on the general path (the fast one checks them in the text). */
function checkReport(d: RegValuesJson & { reported?: unknown; reportSha256?: unknown }): void {
  const n = d.reported;
  if (
    typeof n !== 'number' ||
    !Number.isSafeInteger(n) ||
    !Array.isArray(d.ids) ||
    n < d.ids.length ||
    typeof d.reportSha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(d.reportSha256)
  )
    throw new CorruptHistoryError('stored event is not valid: SyncedFromAccelerator report');
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
  /** 2^(64 × slots): a slot is QEMU's raw 64-bit field, upper bits of a 32-bit register included. */
  limit: bigint[];
  oneSlot: Uint8Array;
  /** The ids as 32-bit words (low word of id i at 2i), for binary search without BigInts. */
  idWords: Uint32Array;
}
const indexes = new WeakMap<BigUint64Array, ListIndex>();

function indexOf(a: CpregArrays): ListIndex {
  let x = indexes.get(a.cpregIndexes);
  if (!x) {
    const n = a.cpregIndexes.length;
    x = {
      byId: new Map(),
      limit: new Array(n),
      oneSlot: new Uint8Array(n),
      idWords: idWordsOf(a.cpregIndexes),
    };
    for (let i = 0; i < n; i++) {
      const id = a.cpregIndexes[i]!;
      x.byId.set(formatRegId(id), i);
      x.limit[i] = 1n << BigInt(slotsFor(id) * 64);
      x.oneSlot[i] = slotsFor(id) === 1 ? 1 : 0;
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
  const words = wordsOf(a.cpregValues);
  // k < rv.ids.length === rv.values.length (checked above); i is a register index from byId,
  // and every array of the ListIndex and of the cpreg arrays holds one entry per register.
  for (let k = 0; k < rv.ids.length; k++) {
    const id = rv.ids[k]!;
    const i = x.byId.get(id);
    if (i === undefined) throw new CorruptHistoryError(`value for register ${String(id).slice(0, 20)} not in the list`);
    const text = rv.values[k];
    if (words && x.oneSlot[i] && typeof text === 'string' && text.length <= 18) {
      if (!hexHalves(text)) throw new CorruptHistoryError(`stored event is not valid: ${text.slice(0, 40)}`);
      const slot = 2 * a.cpregValueIndexes[i]!;
      words[slot] = half.lo;
      words[slot + 1] = half.hi;
      continue;
    }
    const v = hexBig(text);
    if (v >= x.limit[i]!) throw new CorruptHistoryError(`value wider than register ${id}`);
    writeValueAt(a, i, v);
  }
}

/** The 32-bit view of a fold's value slots, made once per slots array, not once per event. */
let lastSlots: BigUint64Array | undefined;
let lastWords: Uint32Array | undefined;
function wordsOf(slots: BigUint64Array): Uint32Array | undefined {
  if (!LITTLE_ENDIAN_HOST) return undefined;
  if (slots !== lastSlots) {
    lastSlots = slots;
    lastWords = new Uint32Array(slots.buffer, slots.byteOffset, slots.length * 2);
  }
  return lastWords;
}

/**
 * Register writes and syncs from the accelerator — nearly every event — are stored as canonical
 * JSON (sorted keys): `{"ids":["0x…",…],"values":["0x…",…]}`, a sync with `"failed":["0x…",…],`
 * first, and a schema-2 sync with `"reportSha256":"<64 hex>","reported":<n>,` between ids and
 * values. Those are written into the slots straight from
 * the text — ids found by binary search on the list's 32-bit words, one-slot values parsed into
 * their halves — with no allocation. The whole text is checked before anything is written; any
 * deviation (another shape, spacing, a multi-slot register, an unknown id) answers undefined and
 * the general path (JSON.parse) takes over. The answer is the failed ids ([] without any).
 */
const HEAD = '{"ids":[';
const MID = '],"values":[';
const FAILED_HEAD = '{"failed":[';
const IDS_AFTER_FAILED = ',"ids":[';
const REPORT_SHA = '],"reportSha256":"';
const REPORTED = '","reported":';
const VALUES_AFTER_REPORT = ',"values":[';
let found = new Int32Array(64);
let halves = new Uint32Array(128);

function writeFromText(
  a: CpregArrays,
  x: ListIndex,
  words: Uint32Array | undefined,
  t: string,
  withFailed: boolean,
  withReport: boolean,
): bigint[] | undefined {
  if (!words) return undefined;
  let p: number;
  const failed: bigint[] = [];
  if (withFailed) {
    if (!t.startsWith(FAILED_HEAD)) return undefined;
    p = FAILED_HEAD.length;
    if (t.charCodeAt(p) !== 93) {
      for (;;) {
        if (t.charCodeAt(p) !== 34 || (p = hexAt(t, p + 1)) < 0 || t.charCodeAt(p) !== 34) return undefined;
        failed.push((BigInt(half.hi) << 32n) | BigInt(half.lo));
        const c = t.charCodeAt(++p);
        if (c === 93) break;
        if (c !== 44) return undefined;
        p++;
      }
    }
    if (!t.startsWith(IDS_AFTER_FAILED, ++p)) return undefined;
    p += IDS_AFTER_FAILED.length;
  } else {
    if (!t.startsWith(HEAD)) return undefined;
    p = HEAD.length;
  }
  let n = 0;
  if (t.charCodeAt(p) !== 93) {
    for (;;) {
      if (t.charCodeAt(p) !== 34 || (p = hexAt(t, p + 1)) < 0 || t.charCodeAt(p) !== 34) return undefined;
      const i = findReg(x.idWords, half.hi, half.lo);
      if (i < 0 || !x.oneSlot[i]) return undefined;
      if (n === found.length) {
        const bigger = new Int32Array(2 * n);
        bigger.set(found);
        found = bigger;
      }
      found[n++] = i;
      const c = t.charCodeAt(++p);
      if (c === 93) break;
      if (c !== 44) return undefined;
      p++;
    }
  }
  let start: number;
  if (withReport) {
    // ],"reportSha256":"<64 lowercase hex>","reported":<n ≥ changed>,"values":[
    if (!t.startsWith(REPORT_SHA, p)) return undefined;
    p += REPORT_SHA.length;
    for (const end = p + 64; p < end; p++) {
      const c = t.charCodeAt(p);
      if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return undefined;
    }
    if (!t.startsWith(REPORTED, p)) return undefined;
    p += REPORTED.length;
    let reported = 0;
    const first = p;
    for (let c = t.charCodeAt(p); c >= 48 && c <= 57 && p - first < 15; c = t.charCodeAt(++p))
      reported = reported * 10 + (c - 48);
    if (p === first || (t.charCodeAt(first) === 48 && p > first + 1) || reported < n) return undefined;
    if (!t.startsWith(VALUES_AFTER_REPORT, p)) return undefined;
    start = p + VALUES_AFTER_REPORT.length;
  } else {
    if (!t.startsWith(MID, p)) return undefined;
    start = p + MID.length;
  }
  // Check every value (kept in `halves`) and the end first; only then write.
  p = start;
  let k = 0;
  if (halves.length < 2 * n) halves = new Uint32Array(4 * n);
  if (t.charCodeAt(p) !== 93) {
    for (;;) {
      if (k >= n || t.charCodeAt(p) !== 34 || (p = hexAt(t, p + 1)) < 0 || t.charCodeAt(p) !== 34) return undefined;
      halves[2 * k] = half.lo;
      halves[2 * k + 1] = half.hi;
      k++;
      const c = t.charCodeAt(++p);
      if (c === 93) break;
      if (c !== 44) return undefined;
      p++;
    }
  }
  if (k !== n || p + 2 !== t.length || t.charCodeAt(p + 1) !== 125) return undefined;
  // j < n: found[j] is a register index, halves[2j..2j+1] were filled above.
  for (let j = 0; j < n; j++) {
    const slot = 2 * a.cpregValueIndexes[found[j]!]!;
    words[slot] = halves[2 * j]!;
    words[slot + 1] = halves[2 * j + 1]!;
  }
  return failed;
}

/** Hex digits "0x…" starting at p (up to 16 of them) → half.hi/half.lo; the position after them, or -1. */
function hexAt(t: string, p: number): number {
  if (t.charCodeAt(p) !== 48 || t.charCodeAt(p + 1) !== 120) return -1;
  let hi = 0;
  let lo = 0;
  let q = p + 2;
  for (; q < t.length; q++) {
    const c = t.charCodeAt(q);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) break;
    hi = ((hi << 4) | (lo >>> 28)) >>> 0;
    lo = ((lo << 4) | d) >>> 0;
  }
  const digits = q - p - 2;
  if (digits < 1 || digits > 16) return -1;
  half.hi = hi;
  half.lo = lo;
  return q;
}
