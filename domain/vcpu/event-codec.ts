import { isAccelerator } from '../accelerator';
import { knownIndexes, slotsFor } from '../cpreg-arrays';
import { isKvmLevel } from '../accelerators/kvm';
import { formatRegId, hiWord, loWord, RegId, sizeBytes } from '../regid';
import { formatValue, ownDigits, valueTextRoom, writeDigitsAt, writeValueText } from '../values';
import { isBlobFormat } from '../vmstate/format';
import type { CreateSource, RegValues, StreamOrigin, VcpuEvent } from './events';
import { CorruptHistoryError } from './evolve';
import { reportSha256 } from './report-digest';

/**
 * Events as stored: JSON with ids and values as hex strings (values zero-padded to the
 * register's width). Each type has its schema version: 1 for every type but
 * `SyncedFromAccelerator`, which is written at 2 (only the values it changed, with the count and
 * SHA-256 of the report); its version-1 events (every reported value) are still read. A reader
 * meets an unknown version with an error rather than a guess.
 */
export const EVENT_SCHEMA_VERSION = 1;
/** `SyncedFromAccelerator` since the delta: `{failed, ids, reportSha256, reported, values}`. */
export const SYNC_FROM_SCHEMA_VERSION = 2;

/** The schema version events of this type are written with. */
export function schemaVersionOf(type: VcpuEvent['type']): number {
  return type === 'SyncedFromAccelerator' ? SYNC_FROM_SCHEMA_VERSION : EVENT_SCHEMA_VERSION;
}

export type Json = Record<string, unknown>;

/**
 * Register values as two parallel arrays, `{"ids": [...], "values": [...]}`: as readable as a
 * map, and several times cheaper to parse than an object with hundreds of keys (replay speed).
 */
export interface RegValuesJson {
  ids: string[];
  values: string[];
}

/** The texts of a value set, made once per RegValues (a write's answer and its event share them). */
const texts = new WeakMap<RegValues, RegValuesJson>();

/** Ids and values as the stored events and the answers write them (never mutate the arrays). */
export function regValueTexts(rv: RegValues): RegValuesJson {
  let t = texts.get(rv);
  if (t) return t;
  // ids and values are parallel arrays (RegValues): values[k] is the value of ids[k].
  t = { ids: idTexts(rv.ids), values: rv.ids.map((id, k) => formatValue(id, rv.values[k]!)) };
  texts.set(rv, t);
  return t;
}

/** The texts of a list's ids, made once per list (lists never change, and many vCPUs share one). */
const listTexts = new WeakMap<BigUint64Array, string[]>();

function idTexts(ids: readonly RegId[]): string[] {
  const known = knownIndexes(ids); // where the decider found them
  if (!known) return ids.map(formatRegId);
  let all = listTexts.get(known.list);
  if (!all) listTexts.set(known.list, (all = Array.from(known.list, formatRegId)));
  const out = new Array<string>(ids.length);
  for (let k = 0; k < ids.length; k++) {
    const i = known.at[k]!; // at is parallel to ids
    out[k] = i >= 0 ? all[i]! : formatRegId(ids[k]!);
  }
  return out;
}

export interface SerializedVcpuEvent {
  type: string;
  schemaVersion: number;
  data: Json;
  /** canonical JSON of `data`, written directly for the events that carry many values (or absent). */
  dataText?: string;
}

export function serializeEvent(e: VcpuEvent): SerializedVcpuEvent {
  const text = dataTextOf(e);
  if (text !== undefined) return new WithDataText(e, text);
  return { type: e.type, schemaVersion: schemaVersionOf(e.type), data: dataOf(e) };
}

/**
 * An event serialized with its dataText, whose `data` object is made only if read: the stores
 * write the text, and the object of a sync's hundreds of values would only be thrown away.
 * JSON.stringify gives the plain object (toJSON).
 */
class WithDataText implements SerializedVcpuEvent {
  readonly type: string;
  readonly schemaVersion: number;
  #data: Json | undefined;
  readonly #event: VcpuEvent;
  constructor(
    event: VcpuEvent,
    readonly dataText: string,
  ) {
    this.#event = event;
    this.type = event.type;
    this.schemaVersion = schemaVersionOf(event.type);
  }
  get data(): Json {
    return (this.#data ??= dataOf(this.#event));
  }
  toJSON(): SerializedVcpuEvent {
    return { type: this.type, schemaVersion: this.schemaVersion, data: this.data, dataText: this.dataText };
  }
}

const ascii = new TextDecoder();

/**
 * Each value of a list as a JSON string and a comma (`"0x<digits zeroed>",`, as many digits as
 * the register's size has; just a comma for a register wider than a slot), made once per list:
 * a run of values at consecutive positions is one copy, then their digits written over it.
 */
interface ValuesTemplate {
  bytes: Uint8Array;
  /** Entry i is bytes[start[i], start[i + 1]). */
  start: Int32Array;
}
const valuesTemplates = new WeakMap<BigUint64Array, ValuesTemplate>();

function valuesTemplateOf(list: BigUint64Array): ValuesTemplate {
  let t = valuesTemplates.get(list);
  if (t) return t;
  const n = list.length;
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) start[i + 1] = start[i]! + (slotsFor(list[i]!) === 1 ? 5 + 2 * sizeBytes(list[i]!) : 1);
  const bytes = new Uint8Array(start[n]!).fill(48); // "0"
  for (let i = 0; i < n; i++) {
    const a = start[i]!;
    const b = start[i + 1]!;
    if (b - a > 1) {
      bytes[a] = 0x22; // "
      bytes[a + 2] = 120; // x
      bytes[b - 2] = 0x22;
    }
    bytes[b - 1] = 0x2c; // ,
  }
  valuesTemplates.set(list, (t = { bytes, start }));
  return t;
}

/**
 * hexArray of a value set's value texts: those made already (regValueTexts), or written as bytes —
 * runs of registers at consecutive positions copied from the list's template (valuesTemplateOf),
 * any other value by writeValueText: a sync's event needs no string per value.
 */
function valuesArrayText(rv: RegValues): string {
  const made = texts.get(rv);
  if (made) return hexArray(made.values);
  const n = rv.ids.length;
  if (n === 0) return '[]';
  const known = knownIndexes(rv.ids);
  const at = known?.at;
  const t = known && valuesTemplateOf(known.list);
  let room = 2;
  for (let k = 0; k < n; k++) room += valueTextRoom(rv.ids[k]!) + 3;
  const out = new Uint8Array(room);
  let p = 0;
  out[p++] = 0x5b; // [
  for (let k = 0; k < n;) {
    const i = at ? at[k]! : -1; // at is parallel to ids
    const id = rv.ids[k]!;
    const v = rv.values[k]!; // values is parallel to ids
    if (!t || i < 0 || ownDigits(id, v) === 0) {
      out[p++] = 0x22; // "
      p = writeValueText(out, p, id, v);
      out[p++] = 0x22;
      out[p++] = 0x2c; // ,
      k++;
      continue;
    }
    let j = k + 1;
    while (j < n && at![j] === at![j - 1]! + 1 && ownDigits(rv.ids[j]!, rv.values[j]!) !== 0) j++;
    const from = t.start[i]!;
    const to = t.start[at![j - 1]! + 1]!;
    out.set(t.bytes.subarray(from, to), p);
    for (let x = k; x < j; x++) {
      const e = at![x]! + 1; // the entry ends `…digits",`
      const d = 2 * sizeBytes(rv.ids[x]!);
      const w = rv.values[x]!;
      writeDigitsAt(out, p + t.start[e]! - from - 2 - d, d, d === 16 ? hiWord(w) : 0, loWord(w));
    }
    p += to - from;
    k = j;
  }
  out[p - 1] = 0x5d; // ] over the last comma
  return ascii.decode(out.subarray(0, p));
}

/**
 * Each id of a list as a JSON string and a comma (`"0x<16 digits>",`: 21 bytes, so id i is at
 * 21 i), made once per list (lists never change): a run of ids at consecutive positions is one copy.
 */
const listIdEntries = new WeakMap<BigUint64Array, Uint8Array>();
const ENTRY = 21;

function idEntriesOf(list: BigUint64Array): Uint8Array {
  let d = listIdEntries.get(list);
  if (!d) {
    d = new Uint8Array(ENTRY * list.length);
    for (let i = 0; i < list.length; i++) {
      const t = `"${formatRegId(list[i]!)}",`; // "0x" + 16 digits, quoted
      for (let k = 0; k < ENTRY; k++) d[ENTRY * i + k] = t.charCodeAt(k);
    }
    listIdEntries.set(list, d);
  }
  return d;
}

/** hexArray of the ids' texts, copied from the list's entries (idEntriesOf) where the decider found them. */
function idsArrayText(ids: readonly RegId[]): string {
  const known = knownIndexes(ids);
  if (!known || ids.length === 0) return hexArray(idTexts(ids));
  const at = known.at; // parallel to ids
  for (let k = 0; k < ids.length; k++) if (at[k]! < 0) return hexArray(idTexts(ids)); // not in the list (never, for a decided set)
  const entries = idEntriesOf(known.list);
  const out = new Uint8Array(1 + ENTRY * ids.length);
  out[0] = 0x5b; // [
  let p = 1;
  for (let k = 0; k < ids.length;) {
    let j = k + 1;
    while (j < ids.length && at[j] === at[j - 1]! + 1) j++;
    const from = ENTRY * at[k]!;
    const to = ENTRY * (at[j - 1]! + 1);
    out.set(entries.subarray(from, to), p);
    p += to - from;
    k = j;
  }
  out[p - 1] = 0x5d; // ] over the last comma
  return ascii.decode(out.subarray(0, p));
}

/** A JSON array of strings that need no escaping (hex). */
function hexArray(a: readonly string[]): string {
  return a.length === 0 ? '[]' : '["' + a.join('","') + '"]';
}

/**
 * The canonical JSON of the data of the events written most (keys in sorted order, as
 * canonicalJson would write them; a property test holds them equal): the join of the hex
 * strings, not an escape pass over each of hundreds of them.
 */
function dataTextOf(e: VcpuEvent): string | undefined {
  switch (e.type) {
    case 'RegistersWritten':
      return '{"ids":' + idsArrayText(e.written.ids) + ',"values":' + valuesArrayText(e.written) + '}';
    case 'SyncedFromAccelerator':
      return (
        '{"failed":' +
        hexArray(e.failed.map(formatRegId)) +
        ',"ids":' +
        idsArrayText(e.changed.ids) +
        ',"reportSha256":' +
        JSON.stringify(e.reportSha256) +
        ',"reported":' +
        JSON.stringify(e.reported) +
        ',"values":' +
        valuesArrayText(e.changed) +
        '}'
      );
    default:
      return undefined;
  }
}

/** Events that carry register values have them as top-level `ids` and `values` (flat: fast to parse). */
function dataOf(e: VcpuEvent): Json {
  switch (e.type) {
    case 'VcpuCreated':
      return {
        accelerator: e.accelerator,
        labels: e.labels,
        ...regValueTexts(e.registers),
        source:
          e.source.kind === 'blob' && e.source.origin
            ? { ...e.source, origin: originToJson(e.source.origin) }
            : e.source,
      };
    case 'RegistersWritten':
      return { ...regValueTexts(e.written) };
    case 'SyncedFromAccelerator':
      // ids and values: the changed values only (schema 2)
      return {
        ...regValueTexts(e.changed),
        failed: e.failed.map(formatRegId),
        reported: e.reported,
        reportSha256: e.reportSha256,
      };
    case 'SyncedToAccelerator':
      return { level: e.level, ...regValueTexts(e.written) };
    case 'BlobExported':
      return { format: e.format, sha256: e.sha256, byteLength: e.byteLength };
    case 'BlobLoaded':
      return {
        format: e.format,
        sha256: e.sha256,
        ...regValueTexts(e.loaded),
        changed: e.changed.map(formatRegId),
        ...(e.origin ? { origin: originToJson(e.origin) } : {}),
      };
  }
}

function fail(what: string): never {
  throw new CorruptHistoryError(`stored event is not valid: ${what}`);
}

const HEX = /^0x[0-9a-f]+$/;

function hex(x: unknown, what: string): bigint {
  if (typeof x !== 'string' || !HEX.test(x)) fail(what);
  return BigInt(x);
}

function obj(x: unknown, what: string): Json {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) fail(what);
  return x as Json;
}

function regValuesFromJson(x: unknown, what: string): RegValues {
  const o = obj(x, what);
  if (!Array.isArray(o.ids) || !Array.isArray(o.values) || o.ids.length !== o.values.length) fail(what);
  return { ids: o.ids.map((v) => hex(v, what)), values: o.values.map((v) => hex(v, what)) };
}

function idList(x: unknown, what: string): RegId[] {
  if (!Array.isArray(x)) fail(what);
  return x.map((v) => hex(v, what));
}

const originToJson = (o: StreamOrigin): Json => ({ machine: o.machine, pageSize: o.pageSize, cpuIndex: o.cpuIndex });

function originFromJson(x: unknown): StreamOrigin | undefined {
  if (x === undefined) return undefined;
  const o = obj(x, 'origin');
  const whole = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (!(o.machine === null || typeof o.machine === 'string') || !whole(o.pageSize) || !whole(o.cpuIndex))
    fail('origin');
  return { machine: o.machine, pageSize: o.pageSize as number, cpuIndex: o.cpuIndex as number };
}

function source(x: unknown): CreateSource {
  const o = obj(x, 'source');
  if (o.kind === 'list') return { kind: 'list' };
  if (o.kind === 'blob' && isBlobFormat(o.format) && (o.sha256 === null || typeof o.sha256 === 'string')) {
    const origin = originFromJson(o.origin);
    return { kind: 'blob', format: o.format, sha256: o.sha256, ...(origin ? { origin } : {}) };
  }
  fail('source');
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A version-1 sync stored the whole report (ascending, as decided): its digest is made from it. */
function syncFromV1(d: Json): VcpuEvent {
  const read = regValuesFromJson(d, 'read');
  for (let k = 1; k < read.ids.length; k++) if (read.ids[k]! <= read.ids[k - 1]!) fail('read: ids not ascending');
  return {
    type: 'SyncedFromAccelerator',
    changed: read,
    failed: idList(d.failed, 'failed'),
    reported: read.ids.length,
    reportSha256: reportSha256(read),
  };
}

function syncFromV2(d: Json): VcpuEvent {
  const changed = regValuesFromJson(d, 'changed');
  const n = d.reported;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < changed.ids.length) fail('reported');
  if (typeof d.reportSha256 !== 'string' || !SHA256_HEX.test(d.reportSha256)) fail('reportSha256');
  return {
    type: 'SyncedFromAccelerator',
    changed,
    failed: idList(d.failed, 'failed'),
    reported: n,
    reportSha256: d.reportSha256,
  };
}

export function deserializeEvent(type: string, schemaVersion: number, data: unknown): VcpuEvent {
  if (type === 'SyncedFromAccelerator' && schemaVersion === SYNC_FROM_SCHEMA_VERSION)
    return syncFromV2(obj(data, 'data'));
  if (schemaVersion !== EVENT_SCHEMA_VERSION) fail(`${type} schema version ${schemaVersion} is unknown`);
  const d = obj(data, 'data');
  switch (type) {
    case 'VcpuCreated': {
      if (!isAccelerator(d.accelerator)) fail('accelerator');
      const labels = obj(d.labels, 'labels') as Record<string, string>;
      return {
        type,
        accelerator: d.accelerator,
        labels,
        registers: regValuesFromJson(d, 'registers'),
        source: source(d.source),
      };
    }
    case 'RegistersWritten':
      return { type, written: regValuesFromJson(d, 'written') };
    case 'SyncedFromAccelerator':
      return syncFromV1(d); // version 1: the whole report
    case 'SyncedToAccelerator':
      if (d.level !== null && !isKvmLevel(d.level)) fail('level');
      return { type, level: d.level, written: regValuesFromJson(d, 'written') };
    case 'BlobExported':
      if (!isBlobFormat(d.format) || typeof d.sha256 !== 'string' || typeof d.byteLength !== 'number') fail('export');
      return { type, format: d.format, sha256: d.sha256, byteLength: d.byteLength };
    case 'BlobLoaded':
      if (!isBlobFormat(d.format) || !(d.sha256 === null || typeof d.sha256 === 'string')) fail('load');
      return {
        type,
        format: d.format,
        sha256: d.sha256,
        loaded: regValuesFromJson(d, 'loaded'),
        changed: idList(d.changed, 'changed'),
        ...(d.origin === undefined ? {} : { origin: originFromJson(d.origin)! }),
      };
    default:
      fail(`unknown event type ${JSON.stringify(type)}`);
  }
}
