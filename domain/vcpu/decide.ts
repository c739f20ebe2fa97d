import { checkBlobIdsFor, kvmWrittenAt, listFor } from '../accelerators';
import { holdsValueAt, indexOfReg, layoutArrays, readValueAt, writeValueAt, type CpregArrays } from '../cpreg-arrays';
import { checkListSize } from '../accelerators/list-checks';
import { DomainError } from '../errors';
import { checkLabels } from '../labels';
import { RegId } from '../regid';
import { fitsRegister, fitsSlots } from '../values';
import { listRegs } from '../vmstate/check';
import { decodeBlob, encodeBlob } from '../vmstate/format';
import { planLoad } from '../vmstate/load';
import type {
  CreateVcpu,
  CreateVcpuFromBlob,
  LoadBlob,
  RecordExport,
  RegAssignment,
  ReportWords,
  SyncFromAccelerator,
  SyncToAccelerator,
  VcpuCommand,
} from './commands';
import type { RegValues, VcpuEvent } from './events';
import { reportSha256, type MessageDigest } from './report-digest';
import { readReportWords, type ReadReport } from './report-words';
import { resolveAll, resolveIndexes } from './resolve';
import type { VcpuState } from './state';

/** How a decider computes what it does not take from the command. */
export interface DecideOptions {
  /** The SHA-256 a sync's report is hashed with (default: the one written out in report-digest.ts). */
  digest?: MessageDigest;
}

/** decide(command, state) → events, or a DomainError. Pure: the same inputs give the same events. */
export function decide(command: VcpuCommand, state: VcpuState | undefined, opts: DecideOptions = {}): VcpuEvent[] {
  if (command.type === 'CreateVcpu' || command.type === 'CreateVcpuFromBlob') {
    if (state) throw new DomainError('vcpu-exists', 'this vCPU already exists');
    return command.type === 'CreateVcpu' ? create(command) : createFromBlob(command);
  }
  if (!state) throw new DomainError('vcpu-not-found', 'no such vCPU');
  switch (command.type) {
    case 'WriteRegisters':
      return [{ type: 'RegistersWritten', written: assignments(state, command.values, 'write') }];
    case 'SyncFromAccelerator':
      return [syncFrom(state, command, opts.digest)];
    case 'SyncToAccelerator':
      return [syncTo(state, command)];
    case 'RecordExport':
      return [recordExport(state, command)];
    case 'LoadBlob':
      return [load(state, command)];
  }
}

function create(c: CreateVcpu): VcpuEvent[] {
  const labels = checkLabels(c.labels);
  const arrays = layoutArrays(listFor(c.accelerator, c.registers));
  checkListSize(arrays.cpregIndexes.length, arrays.cpregValues.length);
  const draft = { accelerator: c.accelerator, labels, arrays, lastSyncFailed: [] };
  if (c.values && c.values.length) {
    const { ids, values } = assignments(draft, c.values, 'initial value');
    ids.forEach((id, k) => writeValueAt(arrays, indexOfReg(arrays, id), values[k]!)); // parallel arrays
  }
  return [
    { type: 'VcpuCreated', accelerator: c.accelerator, labels, registers: allValues(arrays), source: { kind: 'list' } },
  ];
}

function createFromBlob(c: CreateVcpuFromBlob): VcpuEvent[] {
  const labels = checkLabels(c.labels);
  const arrays = decodeBlob(c.format, c.blob);
  checkListSize(arrays.cpregIndexes.length, arrays.cpregValues.length);
  checkBlobIdsFor(c.accelerator, arrays.cpregIndexes);
  return [
    {
      type: 'VcpuCreated',
      accelerator: c.accelerator,
      labels,
      registers: allValues(arrays),
      source: { kind: 'blob', format: c.format, sha256: c.sha256 ?? null, ...(c.origin ? { origin: c.origin } : {}) },
    },
  ];
}

function allValues(a: CpregArrays): RegValues {
  const ids = Array.from(a.cpregIndexes);
  return { ids, values: ids.map((_, i) => readValueAt(a, i)) };
}

/** Resolves and checks a batch of (register, value); sorted by id; all or nothing. */
function assignments(
  state: VcpuState,
  pairs: readonly RegAssignment[],
  what: string,
  fits: (id: RegId, value: bigint) => boolean = fitsRegister,
): RegValues {
  const { ids, values } = indexed(state, pairs, what, fits);
  return { ids, values };
}

/** assignments, with each register's index in the list (ascending, parallel to ids). */
function indexed(
  state: VcpuState,
  pairs: readonly RegAssignment[],
  what: string,
  fits: (id: RegId, value: bigint) => boolean,
): RegValues & { indexes: number[] } {
  if (pairs.length === 0)
    throw new DomainError('invalid-command', `no registers to ${what === 'write' ? 'write' : 'set'}`);
  const refs: RegAssignment[0][] = new Array(pairs.length);
  for (let k = 0; k < pairs.length; k++) refs[k] = pairs[k]![0];
  // resolveIndexes answers one register index per ref, in order: at[k] is the register of
  // pairs[k], and k below is always an index into both.
  const at = resolveIndexes(state, refs);
  const list = state.arrays.cpregIndexes;
  let tooWide: RegId[] | undefined;
  for (let k = 0; k < pairs.length; k++) {
    const id = list[at[k]!]!;
    if (!fits(id, pairs[k]![1])) (tooWide ??= []).push(id);
  }
  if (tooWide) {
    throw new DomainError('invalid-value', `${what}: value wider than the register for ${listRegs(tooWide)}`, tooWide);
  }
  // The list is ascending: index order is id order (indexes are distinct: resolveIndexes).
  // A report in list order (what an agent sends) needs no sort.
  let sorted = true;
  for (let k = 1; k < at.length && sorted; k++) sorted = at[k - 1]! < at[k]!;
  const order = sorted ? at.map((_, k) => k) : at.map((_, k) => k).sort((x, y) => at[x]! - at[y]!);
  const n = order.length;
  const ids: RegId[] = new Array(n);
  const values: bigint[] = new Array(n);
  const indexes: number[] = new Array(n);
  for (let j = 0; j < n; j++) {
    const k = order[j]!;
    indexes[j] = at[k]!;
    ids[j] = list[at[k]!]!;
    values[j] = pairs[k]![1];
  }
  return { ids, values, indexes };
}

function syncFrom(state: VcpuState, c: SyncFromAccelerator, digest?: MessageDigest): VcpuEvent {
  const failedRefs = c.failed ?? [];
  const words = isReportWords(c.values) ? c.values : undefined;
  const pairs = words ? undefined : (c.values as readonly RegAssignment[]);
  const count = words ? words.n : pairs!.length;
  if (count === 0 && failedRefs.length === 0) {
    throw new DomainError('invalid-command', 'a sync from the accelerator reports values or failed registers');
  }
  // The accelerator reports QEMU's raw slots: a 32-bit register's may carry upper bits (TCG).
  let report: Omit<ReadReport, 'read'> & { isRead: (id: RegId) => boolean };
  if (words && count) {
    const r = readReportWords(state, words, digest);
    report = { ...r, isRead: (id) => r.read[indexOfReg(state.arrays, id)] === 1 };
  } else {
    const read = count
      ? indexed(state, pairs!, 'sync', fitsSlots)
      : { ids: [] as RegId[], values: [] as bigint[], indexes: [] as number[] };
    let readSet: Set<RegId> | undefined;
    report = {
      changed: changedValues(state.arrays, read),
      reported: read.ids.length,
      reportSha256: reportSha256(read, digest),
      isRead: (id) => (readSet ??= new Set(read.ids)).has(id),
    };
  }
  const failed = resolveAll(state, failedRefs).sort((a, b) => (a < b ? -1 : 1));
  if (failed.length) {
    const both = failed.filter(report.isRead);
    if (both.length) {
      throw new DomainError('invalid-command', `registers reported both read and failed: ${listRegs(both)}`, both);
    }
  }
  return {
    type: 'SyncedFromAccelerator',
    changed: report.changed,
    failed,
    reported: report.reported,
    reportSha256: report.reportSha256,
  };
}

function isReportWords(v: SyncFromAccelerator['values']): v is ReportWords {
  return !Array.isArray(v);
}

/** The values that differ from what the registers hold (compared slot for slot), in order. */
function changedValues(a: CpregArrays, rv: RegValues & { indexes: readonly number[] }): RegValues {
  const ids: RegId[] = [];
  const values: bigint[] = [];
  // k < rv.ids.length; values and indexes are parallel to ids
  for (let k = 0; k < rv.ids.length; k++) {
    const v = rv.values[k]!;
    if (holdsValueAt(a, rv.indexes[k]!, v)) continue;
    ids.push(rv.ids[k]!);
    values.push(v);
  }
  return { ids, values };
}

function syncTo(state: VcpuState, c: SyncToAccelerator): VcpuEvent {
  const kvm = state.accelerator === 'kvm';
  const level = kvm ? (c.level ?? 'runtime') : null;
  const ids: RegId[] = [];
  const values: bigint[] = [];
  const a = state.arrays;
  for (let i = 0; i < a.cpregIndexes.length; i++) {
    const id = a.cpregIndexes[i]!; // i < length
    if (level && !kvmWrittenAt(id, level)) continue;
    ids.push(id);
    values.push(readValueAt(a, i));
  }
  return { type: 'SyncedToAccelerator', level, written: { ids, values } };
}

function recordExport(state: VcpuState, c: RecordExport): VcpuEvent {
  if (!/^[0-9a-f]{64}$/.test(c.sha256))
    throw new DomainError('invalid-command', 'sha256 must be 64 lowercase hex digits');
  encodeBlob(c.format, state.arrays); // refuses v22 of a list with registers wider than 8 bytes
  return { type: 'BlobExported', format: c.format, sha256: c.sha256, byteLength: c.byteLength };
}

function load(state: VcpuState, c: LoadBlob): VcpuEvent {
  const plan = checkLoad(state, c);
  return {
    type: 'BlobLoaded',
    format: c.format,
    sha256: c.sha256 ?? null,
    loaded: { ids: plan.updated, values: plan.values },
    changed: plan.changed,
    ...(c.origin ? { origin: c.origin } : {}),
  };
}

/** The migration pre-flight: what loading the blob would do, or the refusal. Changes nothing. */
export function checkLoad(state: VcpuState, c: Pick<LoadBlob, 'format' | 'blob'>) {
  // No accelerator list check here: every incoming id must be in the vCPU's own (valid) list,
  // and planLoad refuses the others with QEMU's own rules and messages.
  return planLoad(state.arrays, decodeBlob(c.format, c.blob));
}

/** The blob of the vCPU's current registers (pure; the export is recorded by RecordExport). */
export function exportBlob(state: VcpuState, format: RecordExport['format']): Uint8Array {
  return encodeBlob(format, state.arrays);
}
