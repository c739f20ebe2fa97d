'use strict';
/**
 * Architectural names of AArch64 encodings QEMU migrates that the Linux reference data
 * (sysreg-names.json, get-reg-list-ids-annotated.json) does not name, where QEMU's own name is
 * not the architecture's. From Linux arch/arm64/include/asm/sysreg.h (the source the reference
 * data's README names for SYS_* encodings outside the sysreg file) and the Arm ARM (DDI 0487,
 * D23 "AArch64 System Register Descriptions"):
 *   #define SYS_DBGDTR_EL0    sys_reg(2, 3, 0, 4, 0)
 *   #define SYS_DBGDTRRX_EL0  sys_reg(2, 3, 0, 5, 0)
 *   #define SYS_DBGDTRTX_EL0  sys_reg(2, 3, 0, 5, 0)
 * QEMU calls S2_3_C0_C5_0 "DBGDTR_EL0" ("DBGDTRTX_EL0/DBGDTRRX_EL0 depend on direction"), but
 * DBGDTR_EL0 is S2_3_C0_C4_0. The encoding is DBGDTRRX_EL0 when read (MRS) and DBGDTRTX_EL0 when
 * written (MSR); a list holds what a read returns, so the name is DBGDTRRX_EL0. Lookups accept
 * DBGDTRTX_EL0 and QEMU's DBGDTR_EL0 too (no QEMU or KVM list holds the real DBGDTR_EL0; a list
 * that did would make that name ambiguous, never wrong).
 * Keys are 16-hex-digit SYSREG ids: { name, aliases }.
 */
const AARCH64_NAMES = {
  '0x6030000000139828': { name: 'DBGDTRRX_EL0', aliases: ['DBGDTRTX_EL0', 'DBGDTR_EL0'] }, // S2_3_C0_C5_0
};

module.exports = { AARCH64_NAMES };
