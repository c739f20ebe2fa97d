'use strict';
/**
 * Names from the Linux reference data (../shared/reference/data, see its README):
 *  - sysreg-names.json: the Sysreg blocks of arch/arm64/tools/sysreg (architectural names);
 *  - get-reg-list-ids-annotated.json: every id of the KVM selftest's blessed lists, named from
 *    the sysreg file, asm/sysreg.h, the test's comments or struct kvm_regs (TPIDR_EL0, the
 *    DBG/PMEV families, CORE, FW and FW_FEAT_BMAP ids are only here).
 * The two agree wherever both name an id (checked). The KVM timer ids are *not* taken from
 * here: their names depend on the accelerator (see kvm-specials.js).
 */
const fs = require('fs');
const path = require('path');

const TIMER_IDS = new Set(['0x603000000013df02', '0x603000000013df1a']);
// struct kvm_regs spsr[0..4] (KVM_SPSR_EL1 = KVM_SPSR_SVC, ABT, UND, IRQ, FIQ).
const SPSR_NAMES = ['SPSR_SVC', 'SPSR_ABT', 'SPSR_UND', 'SPSR_IRQ', 'SPSR_FIQ'];

/** "X0 (regs.regs[0])" -> "X0"; "SPSR_EL1/SVC (spsr[0])" -> "SPSR_SVC"; FW "KVM_REG_ARM_X" -> "X". */
function shortName(entry) {
  const m = /\(spsr\[(\d)\]\)/.exec(entry.name);
  if (m) return SPSR_NAMES[Number(m[1])];
  return entry.name.replace(/ \(.*\)$/, '').replace(/^KVM_REG_ARM_/, '');
}

/**
 * @returns {{ sysreg: Map<string,string>, core: Map<string,string>, fw: Map<string,string> }}
 *   architectural SYSREG names, CORE names, FW + FW_FEAT_BMAP names; keys are 16-hex-digit ids.
 */
function kernelNames(dataDir) {
  const read = (f) => JSON.parse(fs.readFileSync(path.join(dataDir, f), 'utf8'));
  const sysreg = new Map();
  for (const r of read('sysreg-names.json')) sysreg.set(r.kvm_one_reg_id.toLowerCase(), r.name);
  const core = new Map();
  const fw = new Map();
  for (const e of read('get-reg-list-ids-annotated.json')) {
    const id = e.id.toLowerCase();
    if (e.coproc === 'CORE') core.set(id, shortName(e));
    else if (e.coproc === 'FW' || e.coproc === 'FW_FEAT_BMAP') fw.set(id, shortName(e));
    else if (e.coproc === 'SYSREG') {
      if (e.name_source === 'unnamed in test' || TIMER_IDS.has(id)) continue;
      const name = shortName(e);
      const known = sysreg.get(id);
      if (known && known !== name) throw new Error(`${id}: sysreg file says ${known}, annotated list says ${name}`);
      sysreg.set(id, name);
    }
  }
  return { sysreg, core, fw };
}

module.exports = { kernelNames };
