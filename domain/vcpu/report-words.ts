import { rememberIndexes, slotsAt } from '../cpreg-arrays';
import { DomainError } from '../errors';
import type { RegId } from '../regid';
import { listRegs } from '../vmstate/check';
import { bits64, findReg, idsOf, idWordsOf } from '../words';
import { resolveNameIndex } from './resolve';
import type { ReportWords } from './commands';
import type { RegValues } from './events';
import { digestOfMessage, paddedLength, type MessageDigest } from './report-digest';
import type { VcpuState } from './state';

/** What a sync from the accelerator makes of its report (syncFrom in decide.ts). */
export interface ReadReport {
  changed: RegValues;
  reported: number;
  reportSha256: string;
  /** The list index of every register read (to check failed ones against). */
  read: Uint8Array;
}

/** Typed arrays use the host's byte order: the low half of a 64-bit slot comes first on little-endian. */
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LE ? 0 : 1;
const HI = LE ? 1 : 0;

/**
 * The report read against the state, as the pairs it stands for are (decide.ts: indexed, then
 * changedValues and reportSha256): unknown registers refused, then registers named twice, in the
 * report's order; the values that differ from the slots, ascending by id, as bigints (only
 * those); the SHA-256 of the canonical bytes of the whole report (report-digest.ts).
 */
export function readReportWords(state: VcpuState, r: ReportWords, digest: MessageDigest = digestOfMessage): ReadReport {
  const a = state.arrays;
  const list = a.cpregIndexes;
  const n = list.length;
  const lw = idWordsOf(list);
  const rw = r.names ? namedWords(state, r, lw) : r.words;
  const at = new Int32Array(r.n);
  let unknown: RegId[] | undefined;
  // a report in list order names the register after the last one found: tried before a search
  for (let k = 0, next = 0; k < r.n; k++) {
    const hi = rw[4 * k]!;
    const lo = rw[4 * k + 1]!;
    const i = next < n && lw[2 * next + 1] === hi && lw[2 * next] === lo ? next : findReg(lw, hi, lo);
    if (i < 0) (unknown ??= []).push(bits64(hi, lo));
    else next = i + 1;
    at[k] = i;
  }
  if (unknown) throw new DomainError('unknown-register', `not in this vCPU's list: ${listRegs(unknown)}`, unknown);
  const read = new Uint8Array(n);
  let twice: RegId[] | undefined;
  for (let k = 0; k < r.n; k++) {
    const i = at[k]!;
    if (read[i]) (twice ??= []).push(list[i]!);
    read[i] = 1;
  }
  if (twice) throw new DomainError('invalid-command', `registers named more than once: ${listRegs(twice)}`, twice);
  // Values of up to 64 bits fit every register's slots (fitsSlots). In id order: the list's.
  let sorted = true;
  for (let k = 1; k < r.n && sorted; k++) sorted = at[k - 1]! < at[k]!;
  const order = new Int32Array(r.n);
  if (sorted) for (let k = 0; k < r.n; k++) order[k] = k;
  else {
    // positions are distinct (checked above): placed by position, read back in list order
    const byPosition = new Int32Array(n).fill(-1);
    for (let k = 0; k < r.n; k++) byPosition[at[k]!] = k;
    for (let i = 0, j = 0; i < n; i++) if (byPosition[i]! >= 0) order[j++] = byPosition[i]!;
  }

  const vw = new Uint32Array(a.cpregValues.buffer, a.cpregValues.byteOffset, 2 * a.cpregValues.length);
  const vi = a.cpregValueIndexes;
  let words = 0;
  for (let k = 0; k < r.n; k++) words += 2 + 2 * slotsAt(a, at[k]!);
  const message = new Int32Array(paddedLength(words));
  const listIds = idsOf(list);
  const ids: RegId[] = [];
  const values: bigint[] = [];
  const changedAt: number[] = [];
  let o = 0;
  for (let j = 0; j < r.n; j++) {
    const k = order[j]!;
    const i = at[k]!;
    const hi = rw[4 * k + 2]!;
    const lo = rw[4 * k + 3]!;
    const slots = slotsAt(a, i);
    message[o++] = rw[4 * k]! | 0;
    message[o++] = rw[4 * k + 1]! | 0;
    o += 2 * (slots - 1); // a wide register's upper slots: zero
    message[o++] = hi | 0;
    message[o++] = lo | 0;
    // compared slot for slot: a wide register's upper slots must be zero too
    const s = vi[i]!;
    let same = vw[2 * s + HI] === hi && vw[2 * s + LO] === lo;
    for (let x = 1; x < slots && same; x++) same = vw[2 * (s + x)] === 0 && vw[2 * (s + x) + 1] === 0;
    if (same) continue;
    ids.push(listIds[i]!);
    values.push(bits64(hi, lo));
    changedAt.push(i);
  }
  rememberIndexes(list, ids, Int32Array.from(changedAt)); // the fold, warnings and answer look them up
  return { changed: { ids, values }, reported: r.n, reportSha256: digest(message, words), read };
}

/**
 * The report's words with the id words of its named registers filled in (a copy: the command
 * is decided again on a retry). Names resolve first, in the report's order, as a pairs report's
 * do (resolveIndexes): the first unknown or ambiguous name is refused before any unknown id.
 */
function namedWords(state: VcpuState, r: ReportWords, lw: Uint32Array): Uint32Array {
  const names = r.names!;
  const words = r.words.slice(0, 4 * r.n);
  for (let k = 0; k < r.n; k++) {
    const name = names[k];
    if (name === undefined) continue;
    const i = resolveNameIndex(state, name);
    words[4 * k] = lw[2 * i + 1]!;
    words[4 * k + 1] = lw[2 * i]!;
  }
  return words;
}
