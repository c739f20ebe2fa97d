import { RegId, sysregId } from '../regid';

/**
 * QEMU's HVF sysreg table (target/arm/hvf/hvf.c, hvf_sreg_match, 7.2.12+ encodings): the 107
 * entries that are compiled in (MDCCINT, MIDR, MPIDR, ID_AA64PFR0 and ID_AA64MMFR0 sit inside
 * never-defined #ifdefs). Encodings are (op0, op1, CRn, CRm, op2); facts of the architecture.
 */
const DEBUG: Array<[number, number, number, number, number]> = [];
for (let n = 0; n < 16; n++) {
  // DBGBVRn, DBGBCRn, DBGWVRn, DBGWCRn _EL1 = (2, 0, 0, n, 4..7)
  for (let op2 = 4; op2 <= 7; op2++) DEBUG.push([2, 0, 0, n, op2]);
}

const OTHERS: Array<[number, number, number, number, number]> = [
  [3, 0, 0, 4, 1], // ID_AA64PFR1_EL1
  [3, 0, 0, 5, 0], // ID_AA64DFR0_EL1
  [3, 0, 0, 5, 1], // ID_AA64DFR1_EL1
  [3, 0, 0, 6, 0], // ID_AA64ISAR0_EL1
  [3, 0, 0, 6, 1], // ID_AA64ISAR1_EL1
  [3, 0, 0, 7, 1], // ID_AA64MMFR1_EL1
  [3, 0, 0, 7, 2], // ID_AA64MMFR2_EL1
  [2, 0, 0, 2, 2], // MDSCR_EL1
  [3, 0, 1, 0, 0], // SCTLR_EL1
  [3, 0, 1, 0, 2], // CPACR_EL1
  [3, 0, 2, 0, 0], // TTBR0_EL1
  [3, 0, 2, 0, 1], // TTBR1_EL1
  [3, 0, 2, 0, 2], // TCR_EL1
  [3, 0, 2, 1, 0], // APIAKEYLO_EL1
  [3, 0, 2, 1, 1], // APIAKEYHI_EL1
  [3, 0, 2, 1, 2], // APIBKEYLO_EL1
  [3, 0, 2, 1, 3], // APIBKEYHI_EL1
  [3, 0, 2, 2, 0], // APDAKEYLO_EL1
  [3, 0, 2, 2, 1], // APDAKEYHI_EL1
  [3, 0, 2, 2, 2], // APDBKEYLO_EL1
  [3, 0, 2, 2, 3], // APDBKEYHI_EL1
  [3, 0, 2, 3, 0], // APGAKEYLO_EL1
  [3, 0, 2, 3, 1], // APGAKEYHI_EL1
  [3, 0, 4, 0, 0], // SPSR_EL1
  [3, 0, 4, 0, 1], // ELR_EL1
  [3, 0, 4, 1, 0], // SP_EL0
  [3, 0, 5, 1, 0], // AFSR0_EL1
  [3, 0, 5, 1, 1], // AFSR1_EL1
  [3, 0, 5, 2, 0], // ESR_EL1
  [3, 0, 6, 0, 0], // FAR_EL1
  [3, 0, 7, 4, 0], // PAR_EL1
  [3, 0, 10, 2, 0], // MAIR_EL1
  [3, 0, 10, 3, 0], // AMAIR_EL1
  [3, 0, 12, 0, 0], // VBAR_EL1
  [3, 0, 13, 0, 1], // CONTEXTIDR_EL1
  [3, 0, 13, 0, 4], // TPIDR_EL1
  [3, 0, 14, 1, 0], // CNTKCTL_EL1
  [3, 2, 0, 0, 0], // CSSELR_EL1
  [3, 3, 13, 0, 2], // TPIDR_EL0
  [3, 3, 13, 0, 3], // TPIDRRO_EL0
  [3, 3, 14, 3, 1], // CNTV_CTL_EL0
  [3, 3, 14, 3, 2], // CNTV_CVAL_EL0
  [3, 4, 4, 1, 0], // SP_EL1
];

/** The 107 ids, ascending (QEMU 7.2 kept table order, which is unsorted at MDSCR_EL1; master sorts). */
export const HVF_SYSREGS: readonly RegId[] = [...DEBUG, ...OTHERS]
  .map(([op0, op1, crn, crm, op2]) => sysregId({ op0, op1, crn, crm, op2 }))
  .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
