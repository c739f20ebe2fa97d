'use strict';
/**
 * Registers QEMU 7.2 defines inside C loops, where the name is built at run time
 * (g_strdup_printf) and the encoding uses the loop variable. Each rule says which initialiser
 * it covers (by its `.name` expression), the loop variable and its full range (the largest
 * count any CPU can have), and the name for each value — the printf format QEMU uses.
 * A loop initialiser no rule covers stops the generator.
 */
const RULES = [
  // debug_helper.c define_debug_regs: up to 16 breakpoints / watchpoints (BRPs, WRPs field + 1).
  { nameExpr: 'dbgbvr_el1_name', variable: 'i', from: 0, to: 15, name: (i) => `DBGBVR${i}_EL1` },
  { nameExpr: 'dbgbcr_el1_name', variable: 'i', from: 0, to: 15, name: (i) => `DBGBCR${i}_EL1` },
  { nameExpr: 'dbgwvr_el1_name', variable: 'i', from: 0, to: 15, name: (i) => `DBGWVR${i}_EL1` },
  { nameExpr: 'dbgwcr_el1_name', variable: 'i', from: 0, to: 15, name: (i) => `DBGWCR${i}_EL1` },
  // helper.c define_pmu_regs: up to 31 event counters (PMCR.N).
  { nameExpr: 'pmevcntr_name', variable: 'i', from: 0, to: 30, name: (i) => `PMEVCNTR${i}` },
  { nameExpr: 'pmevcntr_el0_name', variable: 'i', from: 0, to: 30, name: (i) => `PMEVCNTR${i}_EL0` },
  { nameExpr: 'pmevtyper_name', variable: 'i', from: 0, to: 30, name: (i) => `PMEVTYPER${i}` },
  { nameExpr: 'pmevtyper_el0_name', variable: 'i', from: 0, to: 30, name: (i) => `PMEVTYPER${i}_EL0` },
  // helper.c register_cp_regs_for_features: v8 AArch32 RAZ ID space c0, 0, c4..c15, *.
  { nameExpr: 'name', variable: 'i', from: 4, to: 15, name: (i) => `RES_0_C0_C${i}_X` },
  // hw/intc/arm_gicv3_cpuif.c: up to 16 list registers; QEMU names them all "ICH_LRn_EL2".
  { nameExpr: '"ICH_LRn_EL2"', variable: 'j', from: 0, to: 15, name: (j) => `ICH_LR${j}_EL2` },
  { nameExpr: '"ICH_LRCn_EL2"', variable: 'j', from: 0, to: 15, name: (j) => `ICH_LRC${j}_EL2` },
];

/** The rule for an initialiser, or undefined for an ordinary (literal, loop-free) one. */
function ruleFor(fields) {
  return RULES.find((r) => r.nameExpr === fields.name);
}

module.exports = { RULES, ruleFor };
