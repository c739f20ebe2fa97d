/**
 * What the page computes from the API's answers, with no request of its own: a vCPU's history
 * folded into "what changed, by register name" per event, and one register's value over versions.
 * Events are self-contained (docs/architecture.md): the value-bearing ones carry `ids` and
 * `values` (VcpuCreated: every register; RegistersWritten, SyncedFromAccelerator, BlobLoaded: the
 * values they set), so the fold needs nothing else.
 */
import { sameValue, type CpregEvent, type Labels, type Register } from '../../client';

export interface RegisterName {
  name: string;
  generic: boolean;
}

export interface ValueChange {
  id: string;
  name: string;
  generic: boolean;
  before: string | null;
  after: string;
}

export interface TimelineEntry {
  event: CpregEvent;
  /** Registers whose value this event changed (before → after). */
  changes: ValueChange[];
  /** What else it says (a sync's failed registers, an export's sha256, …). */
  note: string;
}

interface EventData {
  ids?: string[];
  values?: string[];
  failed?: string[];
  changed?: string[];
  format?: string;
  sha256?: string | null;
  byteLength?: number;
  level?: string | null;
  reported?: number;
  source?: { kind?: string; format?: string; origin?: { machine?: string | null } };
}

const SETS_VALUES = new Set(['VcpuCreated', 'RegistersWritten', 'SyncedFromAccelerator', 'BlobLoaded']);

export function namesOf(registers: Register[]): Map<string, RegisterName> {
  return new Map(registers.map((r) => [r.id, { name: r.name, generic: r.generic }]));
}

/** Each event with the registers it changed, oldest first. */
export function timeline(events: CpregEvent[], names: Map<string, RegisterName>): TimelineEntry[] {
  const values = new Map<string, string>();
  const out: TimelineEntry[] = [];
  const nameOf = (id: string) => names.get(id) ?? { name: id, generic: true };
  for (const event of events) {
    const d = (event.data ?? {}) as EventData;
    const changes: ValueChange[] = [];
    if (SETS_VALUES.has(event.type)) {
      (d.ids ?? []).forEach((id, i) => {
        const after = d.values?.[i];
        if (after === undefined) return;
        const before = values.get(id) ?? null;
        values.set(id, after);
        if (event.type !== 'VcpuCreated' && !sameValue(before, after))
          changes.push({ id, ...nameOf(id), before, after });
      });
    }
    out.push({ event, changes, note: noteOf(event.type, d, nameOf) });
  }
  return out;
}

function noteOf(type: string, d: EventData, nameOf: (id: string) => RegisterName): string {
  switch (type) {
    case 'VcpuCreated': {
      const from = d.source?.kind === 'blob' ? `a ${d.source.format ?? ''} blob` : 'a register list';
      const machine = d.source?.origin?.machine ? `, machine ${d.source.origin.machine}` : '';
      return `created with ${d.ids?.length ?? 0} registers from ${from}${machine}`;
    }
    case 'SyncedFromAccelerator':
      return (
        `sync from the accelerator` +
        (d.reported !== undefined ? `: ${d.reported} reported` : '') +
        (d.failed?.length ? `; could not read ${d.failed.map((id) => nameOf(id).name).join(', ')}` : '')
      );
    case 'SyncedToAccelerator':
      return `${d.ids?.length ?? 0} registers to write to the accelerator${d.level ? ` (level ${d.level})` : ''}`;
    case 'BlobExported':
      return `exported a ${d.format} blob: ${d.byteLength} bytes, sha256 ${d.sha256 ?? '?'}`;
    case 'BlobLoaded':
      return `loaded a ${d.format} blob${d.sha256 ? ` (sha256 ${d.sha256.slice(0, 16)}…)` : ''}: ${d.ids?.length ?? 0} registers carried, ${d.changed?.length ?? 0} changed`;
    case 'RegistersWritten':
      return `wrote ${d.ids?.length ?? 0} register${d.ids?.length === 1 ? '' : 's'}`;
    default:
      return '';
  }
}

export interface SeriesPoint {
  version: number;
  recordedAt: string | undefined;
  type: string;
  value: string | null;
  changed: boolean;
}

/** The value of register `id` after each event (null before it has one). */
export function series(events: CpregEvent[], id: string): SeriesPoint[] {
  let value: string | null = null;
  return events.map((e) => {
    const d = (e.data ?? {}) as EventData;
    let changed = false;
    if (SETS_VALUES.has(e.type)) {
      const i = (d.ids ?? []).indexOf(id);
      const v = i >= 0 ? d.values?.[i] : undefined;
      if (v !== undefined) {
        changed = !sameValue(value, v);
        value = v;
      }
    }
    return { version: e.version, recordedAt: e.metadata.recordedAt, type: e.type, value, changed };
  });
}

/** A hex value as a Number for the plot (exact up to 2^53; the page prints the hex beside it). */
export function plotNumber(v: string | null): number | null {
  if (v === null) return null;
  try {
    return Number(BigInt(v));
  } catch {
    return null;
  }
}

/** How many distinct values a register took (the plot offers the registers that changed first). */
export function distinctValues(events: CpregEvent[], id: string): number {
  return new Set(series(events, id).map((p) => (p.value === null ? null : BigInt(p.value).toString()))).size;
}

/** `key=value` chips' text, and the parse of the filter box (`vm=web1 qemu.machine=virt-7.2`). */
export function labelList(labels: Labels): string[] {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`);
}

export function parseLabelFilter(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => /^[^=]+=.*$/.test(s));
}

export function labelsObject(list: string[]): Record<string, string> {
  return Object.fromEntries(list.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

/** `2026-12-01T23:05:05.551Z` → `2026-12-01 23:05:05.551 UTC`. */
export function timeText(iso: string | undefined): string {
  return iso ? iso.replace('T', ' ').replace('Z', ' UTC') : '—';
}
