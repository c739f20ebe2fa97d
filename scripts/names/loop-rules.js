'use strict';
/**
 * Registers QEMU (7.2 and 10.0) defines inside C loops, where the name is built at run time
 * (g_strdup_printf) and the encoding uses the loop variable. Each rule says which initialiser
 * it covers (by its `.name` expression, and by the variable it is stored in where the name
 * expression alone is ambiguous), the loop variable and its full range (the largest count any
 * CPU can have), the name for each value (the printf format QEMU uses), and, where the encoding
 * fields are C locals computed from the loop variable, their values (`locals`: the encoding the
 * architecture gives the n-th register).
 * A loop initialiser no rule covers stops the generator.
 */

/** Armv8-R PRBAR<n>/PRLAR<n> (EL1) and HPRBAR<n>/HPRLAR<n> (EL2): c6, c8+n[3:1], opc2 n[0]<<2 (+1 for the limit). */
const pmsav8r = (el2, limit) => (n) => ({
  crm: 0b1000 | ((n >> 1) & 7),
  opc1: (el2 ? 0b100 : 0) | ((n >> 4) & 1),
  opc2: ((n & 1) << 2) | (limit ? 1 : 0),
});

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
  // helper.c (QEMU 10.0), Armv8-R PMSA: the first 32 MPU regions (MIN(pmsav7_dregion, 32)).
  {
    nameExpr: 'tmp_string',
    container: 'tmp_prbarn_reginfo',
    variable: 'i',
    from: 0,
    to: 31,
    name: (i) => `PRBAR${i}`,
    locals: pmsav8r(false, false),
  },
  {
    nameExpr: 'tmp_string',
    container: 'tmp_prlarn_reginfo',
    variable: 'i',
    from: 0,
    to: 31,
    name: (i) => `PRLAR${i}`,
    locals: pmsav8r(false, true),
  },
  {
    nameExpr: 'tmp_string',
    container: 'tmp_hprbarn_reginfo',
    variable: 'i',
    from: 0,
    to: 31,
    name: (i) => `HPRBAR${i}`,
    locals: pmsav8r(true, false),
  },
  {
    nameExpr: 'tmp_string',
    container: 'tmp_hprlarn_reginfo',
    variable: 'i',
    from: 0,
    to: 31,
    name: (i) => `HPRLAR${i}`,
    locals: pmsav8r(true, true),
  },
];

/** The rule for an initialiser, or undefined for an ordinary (literal, loop-free) one. */
function ruleFor(fields, container) {
  return RULES.find((r) => r.nameExpr === fields.name && (r.container === undefined || r.container === container));
}

module.exports = { RULES, ruleFor };
