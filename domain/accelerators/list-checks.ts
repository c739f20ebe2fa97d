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

/**
 * The service's bounds on one vCPU's list, so that every event and answer stays small: real
 * lists hold a few hundred registers (QEMU 10.0's largest TCG list is 357; a KVM host's, with
 * its firmware registers, about 600) and a few hundred value slots more for wide registers.
 */
export const MAX_REGISTERS = 4096;
export const MAX_VALUE_SLOTS = 16384;

export function checkListSize(registers: number, slots: number): void {
  if (registers > MAX_REGISTERS) {
    throw new DomainError(
      'invalid-register-list',
      `the list holds ${registers} registers; a vCPU holds at most ${MAX_REGISTERS}`,
    );
  }
  if (slots > MAX_VALUE_SLOTS) {
    throw new DomainError('invalid-register-list', `the list needs ${slots} value slots; at most ${MAX_VALUE_SLOTS}`);
  }
}
