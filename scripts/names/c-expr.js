'use strict';
/**
 * Evaluates the small integer expressions QEMU's ARMCPRegInfo initialisers use for encodings:
 * literals (0x, 0b, decimal), a few named constants, loop variables and | & + - << >>. Anything else is refused
 * (returns undefined), so the generator fails loudly instead of guessing.
 */

/** Values from QEMU's target/arm/cpregs.h and cpu.h (facts of its API, not its code). */
const CONSTANTS = {
  CP_ANY: 0xff,
  CP_REG_ARM64_SYSREG_CP: 0x13,
  ARM_CP_STATE_AA32: 0,
  ARM_CP_STATE_AA64: 1,
  ARM_CP_STATE_BOTH: 2,
  ARM_CP_SECSTATE_BOTH: 0,
  ARM_CP_SECSTATE_S: 1,
  ARM_CP_SECSTATE_NS: 2,
};

/** @returns {number | undefined} */
function evalInt(expr, vars = {}) {
  const tokens = expr.match(/0x[0-9a-fA-F]+|0b[01]+|\d+|[A-Za-z_][A-Za-z_0-9]*|<<|>>|[|&+\-()]|\S/g) || [];
  let js = '';
  for (const t of tokens) {
    if (/^(0x[0-9a-fA-F]+|0b[01]+|\d+)$/.test(t)) js += String(Number(t));
    else if (/^[A-Za-z_]/.test(t)) {
      const v = t in vars ? vars[t] : CONSTANTS[t];
      if (v === undefined) return undefined;
      js += String(v);
    } else if (['<<', '>>', '|', '&', '+', '-', '(', ')'].includes(t)) js += ` ${t} `;
    else return undefined;
  }
  if (js.trim() === '') return undefined;
  // Only digits, operators and parentheses reach here.
  return Function(`"use strict"; return (${js});`)();
}

/** The ARM_CP_* flag names a `.type` expression mentions. */
function typeFlags(expr) {
  return new Set((expr || '').match(/ARM_CP_[A-Z0-9_]+/g) || []);
}

module.exports = { evalInt, typeFlags, CONSTANTS };
