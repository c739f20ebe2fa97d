import { aarch32Fields, classOf, isAArch32, isArm64, isWellFormed, loWord, RegClass, RegId, sizeField } from '../regid';
import { refuseIf, sortedUnique } from './list-checks';

/**
 * TCG: QEMU builds the list from its register table: arm64 sysregs (U64) and AArch32
 * cp14/cp15 registers (U32, or U64 for the 64-bit ones), with QEMU's Non-secure bit 29.
 */
function isTcgRegister(id: RegId): boolean {
  if (!isWellFormed(id)) return false;
  const size = sizeField(id);
  if (isArm64(id)) return classOf(id) === RegClass.SYSREG && size === 3;
  if (isAArch32(id)) {
    // Bits 31..30 and 28..20 are never set in a QEMU AArch32 id; bit 29 is the NS flag.
    if ((loWord(id) & 0xdff00000) !== 0) return false;
    const cp = aarch32Fields(id).cp;
    return (cp === 14 || cp === 15) && (size === 2 || size === 3);
  }
  return false;
}

export function tcgList(ids: readonly RegId[]): BigUint64Array {
  refuseIf(
    ids.filter((id) => !isTcgRegister(id)),
    'a TCG list holds arm64 sysregs (U64) and AArch32 cp14/cp15 registers (U32/U64) only; refused',
  );
  return sortedUnique(ids);
}

export function checkTcgBlobIds(ids: BigUint64Array): void {
  tcgList(Array.from(ids));
}
