import { indexOfReg } from '../cpreg-arrays';
import { DomainError } from '../errors';
import { indexByName, type NameIndex } from '../names';
import { formatRegId, RegId } from '../regid';
import { listRegs } from '../vmstate/check';
import type { RegRef } from './commands';
import type { VcpuState } from './state';

/** The id of a register of this vCPU, named by id or by (unambiguous) name. */
function resolveRegister(state: VcpuState, ref: RegRef): RegId {
  if (typeof ref === 'bigint') {
    if (indexOfReg(state.arrays, ref) < 0) {
      throw new DomainError('unknown-register', `register ${formatRegId(ref)} is not in this vCPU's list`, [ref]);
    }
    return ref;
  }
  return state.arrays.cpregIndexes[resolveNameIndex(state, ref)]!; // a list position
}

/**
 * The list position of the register a name names, or the name index's refusal (an unknown or
 * ambiguous name, never remembered). Remembered per list as written: a client names the same
 * registers again and again, and a report may name hundreds of them.
 */
export function resolveNameIndex(state: VcpuState, name: string): number {
  const e = nameIndexOf(state);
  let i = e.at.get(name);
  if (i === undefined) {
    i = indexOfReg(state.arrays, e.index.find(name)); // the index holds the list's ids only
    if (e.at.size >= MAX_REMEMBERED) e.at.clear();
    e.at.set(name, i);
  }
  return i;
}

const MAX_REMEMBERED = 4096;

/** One name index per cpreg list (a vCPU's states share their ids array) and accelerator. */
const nameIndexes = new WeakMap<BigUint64Array, { accelerator: string; index: NameIndex; at: Map<string, number> }>();
function nameIndexOf(state: VcpuState) {
  const ids = state.arrays.cpregIndexes;
  let e = nameIndexes.get(ids);
  if (!e || e.accelerator !== state.accelerator) {
    e = { accelerator: state.accelerator, index: indexByName(ids, state.accelerator), at: new Map() };
    nameIndexes.set(ids, e);
  }
  return e;
}

/**
 * Resolves every ref to its register index in the list; refuses (all at once) unknown ones and
 * registers named twice. The index order is the id order (the list is ascending).
 */
export function resolveIndexes(state: VcpuState, refs: readonly RegRef[]): number[] {
  const a = state.arrays;
  const out: number[] = new Array(refs.length);
  let unknown: RegId[] | undefined;
  for (let k = 0; k < refs.length; k++) {
    const ref = refs[k]!; // k < length
    const i = typeof ref === 'bigint' ? indexOfReg(a, ref) : indexOfReg(a, resolveRegister(state, ref));
    if (i < 0) (unknown ??= []).push(ref as RegId); // only an id can miss: a name resolves or throws
    out[k] = i;
  }
  if (unknown) throw new DomainError('unknown-register', `not in this vCPU's list: ${listRegs(unknown)}`, unknown);
  const seen = new Uint8Array(a.cpregIndexes.length);
  let twice: RegId[] | undefined;
  for (const i of out) {
    if (seen[i]) (twice ??= []).push(a.cpregIndexes[i]!);
    seen[i] = 1;
  }
  if (twice) throw new DomainError('invalid-command', `registers named more than once: ${listRegs(twice)}`, twice);
  return out;
}

/** Resolves every ref; refuses (all at once) unknown ones and registers named twice. */
export function resolveAll(state: VcpuState, refs: readonly RegRef[]): RegId[] {
  const ids: RegId[] = [];
  const unknown: RegId[] = [];
  for (const ref of refs) {
    try {
      ids.push(resolveRegister(state, ref));
    } catch (e) {
      if (e instanceof DomainError && e.kind === 'unknown-register' && typeof ref === 'bigint') unknown.push(ref);
      else throw e;
    }
  }
  if (unknown.length) {
    throw new DomainError('unknown-register', `not in this vCPU's list: ${listRegs(unknown)}`, unknown);
  }
  const seen = new Set<RegId>();
  const twice: RegId[] = [];
  for (const id of ids) {
    if (seen.has(id)) twice.push(id);
    seen.add(id);
  }
  if (twice.length)
    throw new DomainError('invalid-command', `registers named more than once: ${listRegs(twice)}`, twice);
  return ids;
}
