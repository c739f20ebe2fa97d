'use strict';
/**
 * Architectural AArch32 names of the AArch32 views of registers QEMU defines once for both
 * execution states (ARM_CP_STATE_BOTH) and names after the AArch64 register: QEMU calls
 * p14 0 c0 c2 0 "MDCCINT_EL1", the architecture calls it DBGDCCINT. These are facts of the
 * architecture (name and encoding), from:
 *  - Arm ARM (DDI 0487), chapter G8 "AArch32 System Register Descriptions": each register's
 *    "Accessing" section gives its coproc, opc1, CRn, CRm, opc2, and its "Configurations" section
 *    the AArch64 register it is architecturally mapped to;
 *  - Linux, arch/arm64/kvm/sys_regs.c, the cp14_regs[] and cp15_regs[] trap tables, which name
 *    each AArch32 debug and system register beside its encoding (Op1, CRn, CRm, Op2)
 *    (torvalds/linux 001bb819994cd1bd037b6aefdb233f1720ee2126).
 * Keys are `p<cp> <opc1> c<CRn> c<CRm> <opc2>` (the MRC/MCR operands). An encoding QEMU gives an
 * AArch32 view that the architecture does not define (DBGDTR_EL0 at p14 3 c0 c5 0, AFSR0_EL3 at
 * p15 6 c5 c1 0) is not here: it keeps QEMU's name, qualified `(AArch32)` by the generator.
 */

const NAMES = {
  // cp14 debug registers (Linux cp14_regs[]; Arm ARM G8.3).
  'p14 0 c0 c0 2': 'DBGDTRRXext', // OSDTRRX_EL1
  'p14 0 c0 c2 0': 'DBGDCCINT', // MDCCINT_EL1
  'p14 0 c0 c2 2': 'DBGDSCRext', // MDSCR_EL1
  'p14 0 c0 c3 2': 'DBGDTRTXext', // OSDTRTX_EL1
  'p14 0 c0 c6 2': 'DBGOSECCR', // OSECCR_EL1
  'p14 0 c0 c7 0': 'DBGVCR', // DBGVCR32_EL2
  'p14 0 c1 c0 4': 'DBGOSLAR', // OSLAR_EL1
  'p14 0 c1 c1 4': 'DBGOSLSR', // OSLSR_EL1
  'p14 0 c1 c3 4': 'DBGOSDLR', // OSDLR_EL1
  'p14 0 c1 c4 4': 'DBGPRCR', // DBGPRCR_EL1
  'p14 0 c7 c8 6': 'DBGCLAIMSET', // DBGCLAIMSET_EL1
  'p14 0 c7 c9 6': 'DBGCLAIMCLR', // DBGCLAIMCLR_EL1
  'p14 0 c7 c14 6': 'DBGAUTHSTATUS', // DBGAUTHSTATUS_EL1
  // cp15, EL1/EL0 (Arm ARM G8.2; Linux cp15_regs[] names ACTLR, ACTLR2, TTBCR, TTBCR2, DFSR,
  // ADFSR, AIFSR, DFAR, IFAR, PRRR/MAIR0, NMRR/MAIR1, AMAIR0, AMAIR1, PMMIR).
  'p15 0 c0 c0 6': 'REVIDR', // REVIDR_EL1
  'p15 0 c1 c0 1': 'ACTLR', // ACTLR_EL1
  'p15 0 c1 c0 3': 'ACTLR2', // ACTLR_EL1[63:32]
  'p15 0 c2 c0 0': 'TTBR0', // TTBR0_EL1 (32-bit accessor)
  'p15 0 c2 c0 1': 'TTBR1', // TTBR1_EL1 (32-bit accessor)
  'p15 0 c2 c0 2': 'TTBCR', // TCR_EL1
  'p15 0 c2 c0 3': 'TTBCR2', // TCR_EL1[63:32]
  'p15 0 c5 c0 0': 'DFSR', // ESR_EL1
  'p15 0 c5 c1 0': 'ADFSR', // AFSR0_EL1
  'p15 0 c5 c1 1': 'AIFSR', // AFSR1_EL1
  'p15 0 c5 c3 0': 'ERRIDR', // ERRIDR_EL1
  'p15 0 c5 c3 1': 'ERRSELR', // ERRSELR_EL1
  'p15 0 c6 c0 0': 'DFAR', // FAR_EL1[31:0]
  'p15 0 c6 c0 2': 'IFAR', // FAR_EL1[63:32]
  'p15 0 c9 c14 6': 'PMMIR', // PMMIR_EL1
  'p15 0 c10 c2 0': 'MAIR0', // MAIR_EL1[31:0] (PRRR)
  'p15 0 c10 c2 1': 'MAIR1', // MAIR_EL1[63:32] (NMRR)
  'p15 0 c10 c3 0': 'AMAIR0', // AMAIR_EL1[31:0]
  'p15 0 c10 c3 1': 'AMAIR1', // AMAIR_EL1[63:32]
  'p15 0 c12 c0 1': 'RVBAR', // RVBAR_EL1 (EL1 the highest Exception level)
  'p15 0 c12 c0 2': 'RMR', // RMR_EL1 (EL1 the highest Exception level)
  'p15 0 c12 c1 1': 'DISR', // DISR_EL1
  'p15 0 c13 c0 1': 'CONTEXTIDR', // CONTEXTIDR_EL1
  // cp15, EL2 (Hyp) registers (Arm ARM G8.2).
  'p15 4 c0 c0 0': 'VPIDR', // VPIDR_EL2
  'p15 4 c0 c0 5': 'VMPIDR', // VMPIDR_EL2
  'p15 4 c1 c0 0': 'HSCTLR', // SCTLR_EL2
  'p15 4 c1 c0 1': 'HACTLR', // ACTLR_EL2
  'p15 4 c1 c0 3': 'HACTLR2', // ACTLR_EL2[63:32]
  'p15 4 c1 c1 0': 'HCR', // HCR_EL2[31:0]
  'p15 4 c1 c1 1': 'HDCR', // MDCR_EL2
  'p15 4 c1 c1 2': 'HCPTR', // CPTR_EL2
  'p15 4 c1 c1 3': 'HSTR', // HSTR_EL2
  'p15 4 c1 c1 4': 'HCR2', // HCR_EL2[63:32]
  'p15 4 c1 c1 7': 'HACR', // HACR_EL2
  'p15 4 c2 c0 2': 'HTCR', // TCR_EL2
  'p15 4 c2 c1 2': 'VTCR', // VTCR_EL2
  'p15 4 c5 c1 0': 'HADFSR', // AFSR0_EL2
  'p15 4 c5 c1 1': 'HAIFSR', // AFSR1_EL2
  'p15 4 c5 c2 0': 'HSR', // ESR_EL2
  'p15 4 c5 c2 3': 'VDFSR', // VSESR_EL2
  'p15 4 c6 c0 0': 'HDFAR', // FAR_EL2[31:0]
  'p15 4 c6 c0 2': 'HIFAR', // FAR_EL2[63:32]
  'p15 4 c6 c0 4': 'HPFAR', // HPFAR_EL2
  'p15 4 c10 c2 0': 'HMAIR0', // MAIR_EL2[31:0]
  'p15 4 c10 c2 1': 'HMAIR1', // MAIR_EL2[63:32]
  'p15 4 c10 c3 0': 'HAMAIR0', // AMAIR_EL2[31:0]
  'p15 4 c10 c3 1': 'HAMAIR1', // AMAIR_EL2[63:32]
  'p15 4 c12 c0 0': 'HVBAR', // VBAR_EL2
  'p15 4 c12 c0 2': 'HRMR', // RMR_EL2
  'p15 4 c12 c1 1': 'VDISR', // VDISR_EL2
  'p15 4 c13 c0 2': 'HTPIDR', // TPIDR_EL2
  'p15 4 c14 c1 0': 'CNTHCTL', // CNTHCTL_EL2
  'p15 4 c14 c2 0': 'CNTHP_TVAL', // CNTHP_TVAL_EL2
  'p15 4 c14 c2 1': 'CNTHP_CTL', // CNTHP_CTL_EL2
};

/** Breakpoint and watchpoint registers n = 0..15 (Linux DBG_BCR_BVR_WCR_WVR(n), DBGBXVR(n)). */
for (let n = 0; n < 16; n++) {
  NAMES[`p14 0 c0 c${n} 4`] = `DBGBVR${n}`; // DBGBVR<n>_EL1[31:0]
  NAMES[`p14 0 c0 c${n} 5`] = `DBGBCR${n}`; // DBGBCR<n>_EL1
  NAMES[`p14 0 c0 c${n} 6`] = `DBGWVR${n}`; // DBGWVR<n>_EL1[31:0]
  NAMES[`p14 0 c0 c${n} 7`] = `DBGWCR${n}`; // DBGWCR<n>_EL1
  NAMES[`p14 0 c1 c${n} 1`] = `DBGBXVR${n}`; // DBGBVR<n>_EL1[63:32]
}

/** The architectural name of a 32-bit AArch32 id's encoding (NS bit ignored), or undefined. */
function aarch32ArchName(id) {
  if (id >> 32n !== 0x40200000n) return undefined; // U64 (MCRR) views keep QEMU's names
  const lo = Number(id & 0xffffffffn);
  const cp = (lo >>> 16) & 0x3f;
  const crn = (lo >>> 11) & 0xf;
  const crm = (lo >>> 7) & 0xf;
  const opc1 = (lo >>> 3) & 0x7;
  const opc2 = lo & 0x7;
  return NAMES[`p${cp} ${opc1} c${crn} c${crm} ${opc2}`];
}

module.exports = { aarch32ArchName, AARCH32_NAMES: NAMES };
