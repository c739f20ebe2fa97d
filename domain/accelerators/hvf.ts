import type { RegId } from '../regid';
import { refuseIf, sortedUnique } from './list-checks';
import { HVF_SYSREGS } from './hvf-table';

const HVF_SET = new Set<RegId>(HVF_SYSREGS);

/**
 * HVF: QEMU's fixed table, filtered to the registers the CPU model defines. Without a given
 * list the whole table is the list; a given list must be a subset of it. Always sorted
 * (QEMU 7.2 left it in table order, a bug its merge walk does not survive).
 */
export function hvfList(ids?: readonly RegId[]): BigUint64Array {
  if (ids === undefined) return BigUint64Array.from(HVF_SYSREGS);
  refuseIf(
    ids.filter((id) => !HVF_SET.has(id)),
    "an HVF list is a subset of QEMU's 107-register HVF table; not in it",
  );
  return sortedUnique(ids);
}

export function checkHvfBlobIds(ids: BigUint64Array): void {
  hvfList(Array.from(ids));
}
