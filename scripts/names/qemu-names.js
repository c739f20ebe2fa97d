'use strict';
/**
 * One QEMU name per register id, from every ARMCPRegInfo definition in the QEMU source tree.
 * Several definitions can claim one id (CPU-model overrides, CP_ANY wildcards, aliases); the
 * choice is by these documented ranks, then source order:
 *   1. instances QEMU can migrate beat ALIAS / NO_RAW / wildcard copies (lists hold only the
 *      former), AArch32 instances QEMU aliases on some CPUs rank between;
 *   2. target/arm/helper.c and debug_helper.c (architectural tables) beat CPU-model files
 *      (cpu*.c, the GICv3 CPU interface), which beat board files (hw/arm/pxa2xx*.c);
 *   3. where two migratable definitions of equal rank disagree, PREFER decides; a new such
 *      conflict stops the generator until a line is added here.
 * QEMU's labels for the reserved (RAZ) ID encodings it migrates, ID_AA64PFR3_EL1_RESERVED or
 * RES_0_C0_C3_3, are kept: they are the names QEMU gives those registers, and say what they are.
 */
const fs = require('fs');
const path = require('path');
const { findInitializers } = require('./c-initializers');
const { expandInitializers, hex } = require('./qemu-regs');

/** Ids one number of which means different registers on different (pre-v8 or v8) CPUs. */
const PREFER = {
  // cp15 c6,c0,0,1: v6 WFAR (all v6+/v7 CPUs, incl. cortex-a7/a15) over arm1026's IFAR.
  '0x40200000200f3001': 'WFAR',
  // cp15 c6,c0,0,0: DFAR (v6+) over ARM946's protection region 0.
  '0x40200000200f3000': 'DFAR',
  // cp15 c1,c0,0,1: ACTLR (v7+) over XScale's auxiliary control register.
  '0x40200000200f0801': 'ACTLR_EL1',
  // cp15 c0,c3..c7,0 (reserved ID space): v8's RES_0 labels over the pre-v8 "DUMMY" ones.
  '0x40200000200f0180': 'RES_0_C0_C3_0',
  '0x40200000200f0200': 'RES_0_C0_C4_X',
  '0x40200000200f0280': 'RES_0_C0_C5_X',
  '0x40200000200f0300': 'RES_0_C0_C6_X',
  '0x40200000200f0380': 'RES_0_C0_C7_X',
  // cp15 1,c9,c0,2: L2CTLR (cortex-a7/a9/a15) over ARM1176/11MPCore's L2 auxiliary control.
  '0x40200000200f480a': 'L2CTLR',
  // Pre-v7 implementation-defined space, never on a -M virt CPU: the generic table's names.
  '0x40200000200f7880': 'TICONFIG', // OMAP, vs cortex-a9's NEONBUSY and XScale's CPAR
  '0x40200000200f4800': 'DLOCKDOWN', // v6 data lockdown, vs OMAP's C9
  '0x40200000200f3100': 'RGNR', // PMSAv7 region number, vs ARM946 region 2
};

function fileRank(rel) {
  if (/^target\/arm\/(helper|debug_helper)\.c$/.test(rel)) return 0;
  if (/^hw\/arm\//.test(rel)) return 2;
  return 1;
}

function instanceRank(x) {
  if (x.neverRaw) return 2;
  return x.migratable ? 0 : 1;
}

/** Source files holding ARMCPRegInfo initialisers (files that only use the type are harmless). */
function sourceFiles(qemuDir) {
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.c') && fs.readFileSync(p, 'utf8').includes('ARMCPRegInfo')) out.push(p);
    }
  };
  walk(path.join(qemuDir, 'target', 'arm'));
  walk(path.join(qemuDir, 'hw'));
  return out.sort();
}

/**
 * @returns {{ names: Map<string, {name, view, fromBoth}>, files: string[], instances: number }}
 *   keyed by 16-hex-digit id.
 */
function qemuNames(qemuDir) {
  const files = sourceFiles(qemuDir);
  const byId = new Map();
  let order = 0;
  let instances = 0;
  for (const f of files) {
    const rel = path.relative(qemuDir, f).split(path.sep).join('/');
    for (const x of expandInitializers(findInitializers(fs.readFileSync(f, 'utf8')), rel)) {
      instances++;
      const k = hex(x.id);
      if (!byId.has(k)) byId.set(k, []);
      byId.get(k).push({ ...x, rank: instanceRank(x), fileRank: fileRank(rel), order: order++ });
    }
  }
  const names = new Map();
  const conflicts = [];
  for (const [k, list] of byId) {
    list.sort((a, b) => a.rank - b.rank || a.fileRank - b.fileRank || a.order - b.order);
    const best = list[0];
    let chosen = best;
    if (PREFER[k]) {
      chosen = list.find((x) => x.name === PREFER[k]);
      if (!chosen) throw new Error(`PREFER ${k}: no definition named ${PREFER[k]}`);
    } else {
      const rivals = list.filter((x) => x.rank === best.rank && x.fileRank === best.fileRank && x.name !== best.name);
      if (best.rank === 0 && rivals.length > 0)
        conflicts.push(`${k}: ${[best, ...rivals].map((x) => `${x.name}@${x.where}`).join(', ')}`);
    }
    names.set(k, { name: chosen.name, view: chosen.view, fromBoth: chosen.fromBoth, wild: chosen.wild });
  }
  if (conflicts.length) throw new Error(`unresolved QEMU name conflicts (add to PREFER):\n${conflicts.join('\n')}`);
  return { names, files: files.map((f) => path.relative(qemuDir, f)), instances };
}

module.exports = { qemuNames, PREFER };
