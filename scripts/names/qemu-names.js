'use strict';
/**
 * QEMU's names for register ids, from every ARMCPRegInfo definition of one or more QEMU source
 * trees (7.2 and 10.0). Several definitions can claim one id: CPU-model overrides, CP_ANY
 * wildcards, aliases, the same number meaning different registers on different CPUs (XScale's
 * CPPMN0 and Armv8's DBGDCCINT), and QEMU renaming a register between versions.
 *
 * Every definition belongs to a *scope*: the C variable (a table such as `xscale_cp_reginfo` or
 * `neoverse_v1_cp_reginfo`) it is defined in. QEMU registers a table as a whole, for the CPUs
 * that have the feature it stands for, so a scope says which CPUs a name is for. Scopes come in
 * three classes (scopeClass below): the architecture's (v7/v8 tables), a CPU model's
 * (implementation-defined registers, in the CPU model files), and pre-v7 (XScale/PXA, OMAP,
 * StrongARM, ARMv5/v6 cache and MPU tables, QEMU's pre-v7 fallbacks).
 *
 * One name per id (the default), chosen by these documented ranks:
 *   1. a real definition beats a CP_ANY wildcard copy;
 *   2. a definition of an Armv7/v8 (architecture or CPU-model) table beats a pre-v7 one, even one
 *      QEMU migrates: a pre-v7 table never names an id that is a register of Armv7/v8 CPUs;
 *   3. instances QEMU migrates beat ALIAS / NO_RAW copies (lists hold only the former); AArch32
 *      instances QEMU aliases on some CPUs rank between;
 *   4. the architecture's tables beat CPU-model tables (implementation-defined registers);
 *   5. the newer QEMU's name beats the older one's (QEMU renames towards the architecture);
 *   6. where two migrated definitions of equal rank and class disagree, PREFER decides; a new
 *      such conflict stops the generator until a line is added here.
 * Other migrated meanings of an id become *variants* tied to their scope: a list that holds a
 * scope's signature (an id only that scope migrates) is from a CPU that has that table, and its
 * id gets the variant's name (domain/names: nameContext). QEMU's placeholder labels that name
 * several ids of one table (the pre-v8 "DUMMY" ID space) are not variants.
 *
 * QEMU's labels for the reserved (RAZ) ID encodings it migrates, ID_AA64PFR3_EL1_RESERVED or
 * RES_0_C0_C3_3, are kept: they are the names QEMU gives those registers, and say what they are.
 */
const fs = require('fs');
const path = require('path');
const { findInitializers } = require('./c-initializers');
const { expandInitializers, hex } = require('./qemu-regs');
const { aarch32ArchName } = require('./aarch32-names');

/** Defaults where two migrated definitions of the same class disagree; each with its reason. */
const PREFER = {
  // cp15 c0,c3..c7,0 (reserved ID space): v8's RES_0 labels over the pre-v8 "DUMMY" ones.
  '0x40200000200f0180': 'RES_0_C0_C3_0',
  '0x40200000200f0200': 'RES_0_C0_C4_X',
  '0x40200000200f0280': 'RES_0_C0_C5_X',
  '0x40200000200f0300': 'RES_0_C0_C6_X',
  '0x40200000200f0380': 'RES_0_C0_C7_X',
  // cp15 1,c9,c0,2: L2CTLR (cortex-a7/a9/a15) over cortex-a8's L2AUXCR (a variant).
  '0x40200000200f480a': 'L2CTLR',
  // cp15 0,c9,c0,0 (pre-v7 tables both): v6 data lockdown over OMAP's C9 (a variant).
  '0x40200000200f4800': 'DLOCKDOWN',
  // cp15 0,c12,c0,1: MVBAR with EL3 (QEMU puts it in the Non-secure slot) and RVBAR without
  // EL2/EL3 (QEMU 10.0); the list tells which (variants), MVBAR by default.
  '0x40200000200f6001': 'MVBAR',
  // Implementation-defined encodings two CPU models use for different registers; the list tells
  // which (variants). Defaults: the model -M virt runs.
  '0x40200000200f4880': 'BTCM', // cortex-r5 BTCM region, vs cortex-r52 IMP_ATCMREGIONR
  '0x40200000200f4881': 'ATCM', // cortex-r5 ATCM region, vs cortex-r52 IMP_BTCMREGIONR
  '0x40200000200f7800': 'A9_PWRCTL', // cortex-a9, vs cortex-r52 IMP_PERIPHREGIONR
  '0x40200000200f7801': 'A9_DIAG', // cortex-a9, vs cortex-r52 IMP_FLASHIFREGIONR
  '0x603000000013f796': 'CPUPPMCR6_EL3', // cortex-a710/neoverse-n2, vs neoverse-v1 CPUPPMCR3_EL3
};

/** Scopes (C tables) QEMU registers only for CPUs before Armv7 (register_cp_regs_for_features). */
const PRE_V7_SCOPES = new Set([
  'not_v6_cp_reginfo', // !V6
  'not_v7_cp_reginfo', // !V7
  'tlbi_not_v7_cp_reginfo', // !V7 (QEMU 10.0, tcg/tlb-insns.c)
  'pmsav5_cp_reginfo', // PMSA && !V6 (ARM946)
  'cache_test_clean_cp_reginfo', // ARM926/946/1026
  'cache_dirty_status_cp_reginfo', // ARM946/1026/1136/1176
  'cache_block_ops_cp_reginfo', // ARM946/1026/1136/1176
  'omap_cp_reginfo', // OMAP (ti925t)
  'strongarm_cp_reginfo', // SA-1100/1110
  'xscale_cp_reginfo', // PXA2xx
  'crn0_wi_reginfo', // OMAP, StrongARM
  'pxa_cp_reginfo', // hw/arm/pxa2xx.c (QEMU 7.2)
  'pxa_pic_cp_reginfo', // hw/arm/pxa2xx_pic.c (QEMU 7.2)
  'ifar', // ARM1026's IFAR at c6,c0,0,1 (cpu32.c / cpu_tcg.c)
]);

const CLASS_ARCH = 0;
const CLASS_MODEL = 1;
const CLASS_PRE_V7 = 2;
const CLASS_NAMES = ['architecture', 'CPU model', 'pre-v7'];

function scopeClass(scope, rel) {
  if (PRE_V7_SCOPES.has(scope) || /^hw\/arm\/pxa2xx/.test(rel)) return CLASS_PRE_V7;
  // CPU model files: their tables hold implementation-defined registers of some models.
  if (/^target\/arm\/(tcg\/)?(cpu32|cpu64|cpu_tcg|cortex-regs)\.c$/.test(rel)) return CLASS_MODEL;
  return CLASS_ARCH;
}

/**
 * QEMU builds a CPU's cpreg list when the CPU is realized. Registers a board or device defines
 * afterwards (hw/: the PXA board's cp14 registers, the GICv3 CPU interface) are in the CPU but
 * never in its list (measured: the akita and tosa lists have no PXA cp14 register), so they rank
 * with the registers QEMU never migrates.
 */
function instanceRank(x, rel) {
  if (x.neverRaw || rel.startsWith('hw/')) return 2;
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
 * The assembler's / MRC operands' form of an id, for qualifying a name (as domain/names/generic.ts
 * writes it, without the ` (NS)`: the name's `_S` says the bank).
 */
function genericForm(k) {
  const id = BigInt(k);
  const lo = Number(id & 0xffffffffn);
  if (k.startsWith('0x603000000013')) {
    const f = lo & 0xffff;
    return `S${f >> 14}_${(f >> 11) & 7}_C${(f >> 7) & 15}_C${(f >> 3) & 15}_${f & 7}`;
  }
  const [cp, crn, crm, opc1, opc2] = [(lo >>> 16) & 0x3f, (lo >>> 11) & 15, (lo >>> 7) & 15, (lo >>> 3) & 7, lo & 7];
  if (k.startsWith('0x4030')) return `p${cp} ${opc1} c${crm}`;
  return `p${cp} ${opc1} c${crn} c${crm} ${opc2}`;
}

function qemuVersion(dir) {
  try {
    return fs.readFileSync(path.join(dir, 'VERSION'), 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/**
 * @param {string[]} qemuDirs source trees, oldest first (a later tree's names win at equal rank).
 * @returns {{
 *   names: Map<string, {name, view, fromBoth, wild, qemuName, cls, scope, rank, variants: {name, scope}[]}>,
 *   signatures: Map<string, string[]>,
 *   trees: {dir, version, files: string[], instances: number}[],
 * }} keyed by 16-hex-digit id; `qemuName` is QEMU's own name where an architectural AArch32
 * name replaced it; `signatures` are the ids only one scope migrates, for the scopes of the ids
 * with variants (a scope may have none: it is then never recognised as present, only as absent
 * through its rival's signature).
 */
function qemuNames(qemuDirs) {
  const byId = new Map();
  const trees = [];
  let order = 0;
  qemuDirs.forEach((dir, tree) => {
    const files = sourceFiles(dir);
    let instances = 0;
    for (const f of files) {
      const rel = path.relative(dir, f).split(path.sep).join('/');
      for (const x of expandInitializers(findInitializers(fs.readFileSync(f, 'utf8')), rel)) {
        instances++;
        const k = hex(x.id);
        const arch = x.view === 'aa32' && x.fromBoth ? aarch32ArchName(x.id) : undefined;
        const name = arch === undefined ? x.name : arch + (x.secureSuffix ? '_S' : '');
        const scope = x.container ?? `${rel}:${x.where}`;
        if (!byId.has(k)) byId.set(k, []);
        byId.get(k).push({
          ...x,
          name,
          qemuName: arch === undefined ? undefined : x.name,
          scope,
          cls: scopeClass(scope, rel),
          rank: instanceRank(x, rel),
          tree,
          order: order++,
        });
      }
    }
    trees.push({ dir, version: qemuVersion(dir), files: files.map((f) => path.relative(dir, f)), instances });
  });

  // QEMU's placeholder labels that name several ids of one scope (pre-v8 "DUMMY") are no names
  // for a variant: a name must find one register.
  const perScope = new Map();
  for (const [k, list] of byId) {
    for (const x of list) {
      if (x.rank !== 0) continue;
      const key = `${x.scope}\u0000${x.name.toUpperCase()}`;
      if (!perScope.has(key)) perScope.set(key, new Set());
      perScope.get(key).add(k);
    }
  }
  const placeholder = (x) => perScope.get(`${x.scope}\u0000${x.name.toUpperCase()}`).size > 1;

  const names = new Map();
  const conflicts = [];
  const variantScopes = new Set();
  for (const [k, list] of byId) {
    const wild = (x) => (x.wild ? 1 : 0);
    const pre = (x) => (x.cls === CLASS_PRE_V7 ? 1 : 0);
    list.sort(
      (a, b) =>
        wild(a) - wild(b) ||
        pre(a) - pre(b) ||
        a.rank - b.rank ||
        a.cls - b.cls ||
        b.tree - a.tree ||
        a.order - b.order,
    );
    const best = list[0];
    let chosen = best;
    if (PREFER[k]) {
      chosen = list.find((x) => x.name === PREFER[k]);
      if (!chosen) throw new Error(`PREFER ${k}: no definition named ${PREFER[k]}`);
    } else if (best.rank === 0) {
      // Same rank and class, another scope, another name, in the same QEMU version: undecided.
      const rivals = list.filter(
        (x) => x.rank === 0 && x.cls === best.cls && x.tree === best.tree && x.name !== best.name,
      );
      if (rivals.length > 0) conflicts.push(`${k}: ${[best, ...rivals].map((x) => `${x.name}@${x.where}`).join(', ')}`);
    }
    // Other migrated meanings, by scope (the best-ranked name of each scope).
    const variants = [];
    if (!chosen.wild) {
      const seen = new Set([chosen.scope]);
      for (const x of list) {
        if (x.rank !== 0 || seen.has(x.scope) || placeholder(x)) continue;
        seen.add(x.scope);
        if (x.name.toUpperCase() === chosen.name.toUpperCase()) continue;
        variants.push({ name: x.name, scope: x.scope });
        variantScopes.add(x.scope);
      }
      if (variants.length > 0) variantScopes.add(chosen.scope);
    }
    names.set(k, {
      name: chosen.name,
      view: chosen.view,
      fromBoth: chosen.fromBoth,
      wild: chosen.wild,
      qemuName: chosen.qemuName,
      cls: chosen.cls,
      scope: chosen.scope,
      rank: chosen.rank,
      variants,
    });
  }
  if (conflicts.length) throw new Error(`unresolved QEMU name conflicts (add to PREFER):\n${conflicts.join('\n')}`);

  // One table giving one name to two migrated ids (QEMU 10.0's cortex-a710 table defines
  // CPUPPMCR_EL3 at S3_6_C15_C2_0 and again at S3_0_C15_C2_4): the id where another table uses
  // that name too keeps it, the others are written `<name> (<generic form>)`, so that a list's
  // names stay unique.
  const byScopeName = new Map();
  for (const [k, list] of byId) {
    for (const x of list) {
      if (x.rank !== 0) continue;
      // Within one namespace (AArch64, AArch32 32-bit, 64-bit): across them "(AArch32)" and
      // "(64-bit)" tell the views of one register apart (gen-names.js).
      // In one QEMU version (7.2 had cortex-r5's ATCM and BTCM the other way round).
      const key = `${x.tree}\u0000${x.scope}\u0000${k.slice(0, 6)}\u0000${x.name.toUpperCase()}`;
      if (!byScopeName.has(key)) byScopeName.set(key, { scope: x.scope, name: x.name, ids: new Set() });
      byScopeName.get(key).ids.add(k);
    }
  }
  for (const { scope, name, ids } of byScopeName.values()) {
    if (ids.size < 2) continue;
    const elsewhere = (k) => byId.get(k).some((x) => x.rank === 0 && x.scope !== scope && x.name === name);
    // The id where another table uses the name too keeps it (none or several: all qualified).
    const keep = [...ids].filter(elsewhere);
    for (const k of ids) {
      const n = names.get(k);
      if ((keep.length === 1 && keep[0] === k) || n.name !== name) continue;
      n.name = `${name} (${genericForm(k)})`;
    }
  }

  // A scope is recognised in a list by an id only that scope migrates (its signature): needed for
  // the variants' scopes and for the scopes of the defaults they stand against.
  const signatures = new Map([...variantScopes].sort().map((s) => [s, []]));
  for (const [k, list] of byId) {
    const scopes = new Set(list.filter((x) => x.rank === 0).map((x) => x.scope));
    if (scopes.size !== 1) continue;
    const [s] = scopes;
    if (signatures.has(s)) signatures.get(s).push(k);
  }
  for (const ids of signatures.values()) ids.sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  return { names, signatures, trees };
}

module.exports = { qemuNames, genericForm, PREFER, PRE_V7_SCOPES, CLASS_NAMES };
