import { indexOfReg, readValueAt } from '../cpreg-arrays';
import type { RegId } from '../regid';
import type { VcpuState } from './state';

export interface RegisterChange {
  id: RegId;
  before: bigint | null;
  after: bigint | null;
}

/** Registers whose value differs between two states (null where a state lacks the register). */
export function diffStates(a: VcpuState, b: VcpuState): RegisterChange[] {
  const ids = new Set<RegId>([...a.arrays.cpregIndexes, ...b.arrays.cpregIndexes]);
  const out: RegisterChange[] = [];
  for (const id of [...ids].sort((x, y) => (x < y ? -1 : 1))) {
    const ia = indexOfReg(a.arrays, id);
    const ib = indexOfReg(b.arrays, id);
    const before = ia < 0 ? null : readValueAt(a.arrays, ia);
    const after = ib < 0 ? null : readValueAt(b.arrays, ib);
    if (before !== after) out.push({ id, before, after });
  }
  return out;
}
