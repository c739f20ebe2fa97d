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
  return nameIndexOf(state).find(ref);
}

/** One name index per cpreg list (a vCPU's states share their ids array) and accelerator. */
const nameIndexes = new WeakMap<BigUint64Array, { accelerator: string; index: NameIndex }>();
function nameIndexOf(state: VcpuState): NameIndex {
  const ids = state.arrays.cpregIndexes;
  let e = nameIndexes.get(ids);
  if (!e || e.accelerator !== state.accelerator) {
    e = { accelerator: state.accelerator, index: indexByName(ids, state.accelerator) };
    nameIndexes.set(ids, e);
  }
  return e.index;
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
