import { indexesIn, indexOfReg, readValueAt, slotsFor } from '../domain/cpreg-arrays';
import { nameContext, registerInfo, type NameContext, type RegisterInfo } from '../domain/names';
import { formatRegId, hiWord, loWord, sizeBytes, type RegId } from '../domain/regid';
import { formatValue, ownDigits } from '../domain/values';
import type { ByteWriter } from './byte-writer';
import { regValueTexts, type LoadReport, type RegValues, type VcpuState } from '../domain/vcpu';
import { eventJsonText, type JsonEvent, type RawEvent, type StoredEvent } from '../app/vcpu-queries';
import type { components } from './generated/openapi';

/** Shapes of the contract (openapi.yaml → api/generated/openapi.ts): the compiler holds the views to them. */
type Schemas = components['schemas'];

/** Domain state and events as the contract (openapi.yaml) shapes them. Pure formatting. */

/** Name contexts per list (a list's ids never change after creation): built once, not per answer. */
const contexts = new WeakMap<BigUint64Array, NameContext>();

/** The name of a register of this vCPU, and whether it is generic (no source names the id). */
export function infoOf(s: VcpuState, id: RegId): RegisterInfo {
  const list = s.arrays.cpregIndexes;
  let context = contexts.get(list);
  if (!context) contexts.set(list, (context = nameContext(list)));
  return registerInfo(id, s.accelerator, context);
}

export function stateView(id: string, version: number, s: VcpuState): Schemas['VcpuState'] {
  const a = s.arrays;
  const registers: Schemas['Register'][] = new Array(a.cpregIndexes.length);
  for (let i = 0; i < a.cpregIndexes.length; i++) {
    const reg = a.cpregIndexes[i]!; // i < length; cpregValueIndexes is parallel
    const info = infoOf(s, reg);
    registers[i] = {
      id: formatRegId(reg),
      name: info.name,
      generic: info.generic,
      size: sizeBytes(reg),
      valueIndex: a.cpregValueIndexes[i]!,
      slots: slotsFor(reg),
      value: formatValue(reg, readValueAt(a, i)),
    };
  }
  return {
    id,
    accelerator: s.accelerator,
    version,
    labels: s.labels,
    arrayLen: a.cpregIndexes.length,
    valueArrayLen: a.cpregValues.length,
    lastSyncFailed: s.lastSyncFailed.map(formatRegId),
    registers,
  };
}

export function arraysView(id: string, version: number, s: VcpuState): Schemas['CpregArrays'] {
  const a = s.arrays;
  return {
    id,
    version,
    arrayLen: a.cpregIndexes.length,
    valueArrayLen: a.cpregValues.length,
    cpregIndexes: Array.from(a.cpregIndexes, formatRegId),
    cpregValueIndexes: Array.from(a.cpregValueIndexes),
    cpregValues: Array.from(a.cpregValues, (v) => '0x' + v.toString(16).padStart(16, '0')),
  };
}

export function namedValues(rv: RegValues, s: VcpuState): Schemas['NamedValue'][] {
  const out: Schemas['NamedValue'][] = new Array(rv.ids.length);
  const values = regValueTexts(rv).values;
  for (let k = 0; k < rv.ids.length; k++) {
    const n = namedValueOf(s, rv.ids[k]!);
    out[k] = { id: n.id, name: n.name, generic: n.generic, value: values[k]! }; // values is parallel to ids
  }
  return out;
}

/**
 * id text, name and generic per register index of a list (under one accelerator), and the UTF-8
 * of its JSON object's first keys (`{"id":…,"name":…,"generic":…`), alone and followed by
 * `,"value":"` (a NamedValue up to its value): made once.
 */
const namedIds = new WeakMap<
  BigUint64Array,
  { accelerator: string; byIndex: NamedId[]; idHeads: Uint8Array[]; valueHeads: Uint8Array[]; byKeys: Uint8Array[] }
>();
type NamedId = { id: string; name: string; generic: boolean };

function namesOf(s: VcpuState) {
  const list = s.arrays.cpregIndexes;
  let e = namedIds.get(list);
  if (!e || e.accelerator !== s.accelerator)
    namedIds.set(list, (e = { accelerator: s.accelerator, byIndex: [], idHeads: [], valueHeads: [], byKeys: [] }));
  return e;
}

export function namedValueOf(s: VcpuState, id: RegId): NamedId {
  const e = namesOf(s);
  const i = indexOfReg(s.arrays, id);
  const known = i < 0 ? undefined : e.byIndex[i];
  if (known) return known;
  const info = infoOf(s, id);
  const named = { id: formatRegId(id), name: info.name, generic: info.generic };
  if (i >= 0) e.byIndex[i] = named;
  return named;
}

const utf8 = new TextEncoder();

/** The register's JSON head as UTF-8, from the per-list cache `heads` (position i of the list, or -1). */
function headOf(s: VcpuState, id: RegId, i: number, heads: Uint8Array[], tail: string): Uint8Array {
  let b = i < 0 ? undefined : heads[i];
  if (b === undefined) {
    const n = namedValueOf(s, id);
    b = utf8.encode(`{"id":${JSON.stringify(n.id)},"name":${JSON.stringify(n.name)},"generic":${n.generic}${tail}`);
    if (i >= 0) heads[i] = b;
  }
  return b;
}

/** `{"id":…,"name":…,"generic":…` of a register (an object's first keys, unclosed) as UTF-8. */
export function idHeadBytes(s: VcpuState, id: RegId): Uint8Array {
  return headOf(s, id, indexOfReg(s.arrays, id), namesOf(s).idHeads, '');
}

/** `,"overwrittenBy":…,"overwrittenByName":…` of a register (a finding's writer) as UTF-8, made once per list. */
export function overwrittenByBytes(s: VcpuState, id: RegId): Uint8Array {
  const i = indexOfReg(s.arrays, id);
  const keys = namesOf(s).byKeys;
  let b = i < 0 ? undefined : keys[i];
  if (b === undefined) {
    const n = namedValueOf(s, id);
    b = utf8.encode(`,"overwrittenBy":${JSON.stringify(n.id)},"overwrittenByName":${JSON.stringify(n.name)}`);
    if (i >= 0) keys[i] = b;
  }
  return b;
}

/** A list's NamedValues with their digits zeroed (templateOf). */
interface ValueTemplate {
  bytes: Uint8Array;
  /** Entry i is bytes[start[i], start[i + 1] - 1) (the comma after it left out). */
  start: Int32Array;
  /** Its value's digits (2 per byte of the register), 0 for a register wider than a slot (not in it). */
  digits: Uint8Array;
}
const templates = new WeakMap<BigUint64Array, { accelerator: string; t: ValueTemplate }>();

/**
 * Every register of a list as a NamedValue's JSON (`{"id":…,"name":…,"generic":…,"value":"0x…"}`,
 * its value's digits zero, as many as its size has), joined by commas: a run of registers at
 * consecutive positions is one copy, then its values' digits. Made once per list.
 */
function templateOf(s: VcpuState): ValueTemplate {
  const list = s.arrays.cpregIndexes;
  const known = templates.get(list);
  if (known && known.accelerator === s.accelerator) return known.t;
  const n = list.length;
  const parts: Uint8Array[] = [];
  const start = new Int32Array(n + 1);
  const digits = new Uint8Array(n);
  let length = 0;
  for (let i = 0; i < n; i++) {
    const id = list[i]!;
    start[i] = length;
    const d = slotsFor(id) === 1 ? 2 * sizeBytes(id) : 0;
    digits[i] = d;
    const r = namedValueOf(s, id);
    const entry =
      d === 0
        ? COMMA
        : utf8.encode(
            `{"id":${JSON.stringify(r.id)},"name":${JSON.stringify(r.name)},"generic":${r.generic},"value":"0x${'0'.repeat(d)}"},`,
          );
    parts.push(entry);
    length += entry.length;
  }
  start[n] = length;
  const bytes = new Uint8Array(length);
  for (let i = 0; i < n; i++) bytes.set(parts[i]!, start[i]!);
  const t = { bytes, start, digits };
  templates.set(list, { accelerator: s.accelerator, t });
  return t;
}
const COMMA = Uint8Array.of(0x2c);

/** Whether register i's value v is written by its template entry: exactly its digits, zero-padded. */
function fits(t: ValueTemplate, i: number, id: RegId, v: bigint): boolean {
  return i >= 0 && t.digits[i] !== 0 && ownDigits(id, v) !== 0;
}

/**
 * JSON.stringify(namedValues(rv, s))'s UTF-8, written into `w`. A sync's answer names hundreds of
 * values, mostly at consecutive positions of the list: each run of them is copied from the list's
 * template (templateOf) and its values' digits written over it; any other register (wider than a
 * slot, a value with more digits than its size) is written from its head and its digits.
 */
export function writeNamedValues(w: ByteWriter, rv: RegValues, s: VcpuState): void {
  const heads = namesOf(s).valueHeads;
  const t = templateOf(s);
  const at = indexesIn(s.arrays, rv.ids);
  const n = rv.ids.length;
  w.byte(0x5b); // [
  for (let k = 0; k < n;) {
    if (k > 0) w.byte(0x2c); // ,
    const i = at[k]!;
    if (!fits(t, i, rv.ids[k]!, rv.values[k]!)) {
      const id = rv.ids[k]!;
      // the head: the template's entry up to its value's "0x", or made for a register not in it
      if (i >= 0 && t.digits[i]! > 0) w.span(t.bytes, t.start[i]!, t.start[i + 1]! - 5 - t.digits[i]!);
      else w.bytes(headOf(s, id, i, heads, ',"value":"'));
      w.value(id, rv.values[k]!); // values is parallel to ids
      w.byte(0x22); // "
      w.byte(0x7d); // }
      k++;
      continue;
    }
    let j = k + 1;
    while (j < n && at[j] === at[j - 1]! + 1 && fits(t, at[j]!, rv.ids[j]!, rv.values[j]!)) j++;
    const from = t.start[i]!;
    const base = w.span(t.bytes, from, t.start[at[j - 1]! + 1]! - 1) - from;
    for (let x = k; x < j; x++) {
      const ix = at[x]!;
      const d = t.digits[ix]!;
      const v = rv.values[x]!;
      // the digits end before the entry's `"}`
      w.hexAt(base + t.start[ix + 1]! - 3 - d, d, d === 16 ? hiWord(v) : 0, loWord(v));
    }
    k = j;
  }
  w.byte(0x5d); // ]
}

export function loadReportView(
  r: LoadReport,
  s: VcpuState,
  format: 'v22' | 'v23',
  dryRun: boolean,
  values: Map<RegId, bigint>,
): Schemas['LoadReport'] {
  return {
    format,
    dryRun,
    updated: r.updated.map(formatRegId),
    changed: r.changed.map((id) => ({ ...namedValueOf(s, id), value: formatValue(id, values.get(id) ?? 0n) })),
    kept: r.kept.map(formatRegId),
    warnings: r.warnings.map((w) => ({
      kind: w.kind,
      register: formatRegId(w.register),
      name: infoOf(s, w.register).name,
      generic: infoOf(s, w.register).generic,
      message: w.message,
    })),
  };
}

export function eventView(e: StoredEvent): Schemas['Event'] {
  return {
    position: e.position,
    streamId: e.streamId,
    version: e.version,
    type: e.type,
    schemaVersion: e.schemaVersion,
    data: e.data as Schemas['Event']['data'],
    metadata: e.metadata,
    hash: e.hash,
  };
}

/**
 * The same JSON as eventView, made from the stored text without parsing it (the fields in
 * eventView's order, so the bytes are the same).
 */
export const rawEventJson: (e: RawEvent) => string = eventJsonText;

/** A page of events as JSON text: `{"events":[…],"next":…}`. */
export function rawPageJson(events: readonly RawEvent[], next: number | null): string {
  let out = '{"events":[';
  for (let i = 0; i < events.length; i++) out += (i ? ',' : '') + rawEventJson(events[i]!);
  return out + `],"next":${next === null ? 'null' : next}}`;
}

/** The same page from texts a store composed. */
export function jsonPageText(events: readonly JsonEvent[], next: number | null): string {
  let out = '{"events":[';
  for (let i = 0; i < events.length; i++) out += (i ? ',' : '') + events[i]!.json;
  return out + `],"next":${next === null ? 'null' : next}}`;
}
