import { aarch32Fields, isAArch32, isSysreg, RegId, sysregFields } from '../regid';

/**
 * Architecturally read-only identification registers: op0=3, CRn=0, op1 ∈ {0,1,3}
 * (ID_*, MIDR, REVIDR, CLIDR, CCSIDR, CTR, DCZID, AIDR …) — not CSSELR (op1=2), which is
 * writable — and their AArch32 twins (cp15, CRn=0, opc1 ∈ {0,1}). QEMU refuses a stream
 * that changes one (the destination's constant does not read back).
 */
export function isReadOnlyIdRegister(id: RegId): boolean {
  if (isSysreg(id)) {
    const f = sysregFields(id);
    return f.op0 === 3 && f.crn === 0 && (f.op1 === 0 || f.op1 === 1 || f.op1 === 3);
  }
  if (isAArch32(id)) {
    const f = aarch32Fields(id);
    return !f.is64 && f.cp === 15 && f.crn === 0 && (f.opc1 === 0 || f.opc1 === 1);
  }
  return false;
}
