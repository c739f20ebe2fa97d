import { indexesIn, indexOfReg, readValueAt, slotsFor } from '../domain/cpreg-arrays';
import { nameContext, registerInfo, type NameContext, type RegisterInfo } from '../domain/names';
import { formatRegId, sizeBytes, type RegId } from '../domain/regid';
import { formatValue } from '../domain/values';
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
  { accelerator: string; byIndex: NamedId[]; idHeads: Uint8Array[]; valueHeads: Uint8Array[] }
>();
type NamedId = { id: string; name: string; generic: boolean };

function namesOf(s: VcpuState) {
  const list = s.arrays.cpregIndexes;
  let e = namedIds.get(list);
  if (!e || e.accelerator !== s.accelerator)
    namedIds.set(list, (e = { accelerator: s.accelerator, byIndex: [], idHeads: [], valueHeads: [] }));
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

/**
 * JSON.stringify(namedValues(rv, s))'s UTF-8, written into `w`: each register's head made once per
 * list, each value's digits written in place — a sync's answer names hundreds of values, and a
 * string (or an object) per value cost more than the bytes.
 */
export function writeNamedValues(w: ByteWriter, rv: RegValues, s: VcpuState): void {
  const heads = namesOf(s).valueHeads;
  const at = indexesIn(s.arrays, rv.ids);
  w.byte(0x5b); // [
  for (let k = 0; k < rv.ids.length; k++) {
    if (k > 0) w.byte(0x2c); // ,
    const id = rv.ids[k]!;
    w.bytes(headOf(s, id, at[k]!, heads, ',"value":"'));
    w.value(id, rv.values[k]!); // values is parallel to ids
    w.byte(0x22); // "
    w.byte(0x7d); // }
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
