import { DomainError } from '../errors';
import type { RegId } from '../regid';
import { listRegs } from '../vmstate/check';

/** Sorted copy as a BigUint64Array, refusing repeated ids (naming every one). */
export function sortedUnique(ids: readonly RegId[]): BigUint64Array {
  const sorted = BigUint64Array.from(ids).sort();
  const dups: RegId[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const id = sorted[i]!; // 1 <= i < sorted.length
    if (id === sorted[i - 1] && dups[dups.length - 1] !== id) dups.push(id);
  }
  if (dups.length) throw new DomainError('invalid-register-list', `register list repeats ${listRegs(dups)}`, dups);
  return sorted;
}

export function refuseIf(bad: RegId[], what: string): void {
  if (bad.length) {
    const sorted = [...bad].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    throw new DomainError('invalid-register-list', `${what}: ${listRegs(sorted)}`, sorted);
  }
}
