#!/usr/bin/env node
'use strict';
/**
 * Generates domain/names/table.generated.ts: a name for every register id, from facts.
 *
 *   node scripts/gen-names.js --qemu DIR [--qemu DIR …] [--data DIR] [--out FILE]
 *
 *   --qemu  a QEMU source tree; give each version whose registers are named, oldest first
 *           (default /tmp/qemu-src/qemu-7.2+dfsg and /tmp/qemu-src/qemu-10.0.2). Get them with
 *           `apt-get source` (Debian, deb-src enabled) in /tmp/qemu-src; see docs/names.md.
 *           The source is read, never copied: only names and encodings leave it.
 *   --data  Linux reference data (default ../shared/reference/data from the repo root).
 *   --out   default domain/names/table.generated.ts.
 *   --check compare with --out instead of writing it; exit 1 when it differs (CI).
 *
 * Sources, in order of precedence:
 *   1. AArch64 SYSREG ids: architectural names from sysreg-names.json and
 *      get-reg-list-ids-annotated.json (scripts/names/kernel-names.js);
 *   2. QEMU's ARMCPRegInfo definitions (scripts/names/qemu-*.js, loop-rules.js) of every tree
 *      given: the AArch64 ids (1) does not name, and every AArch32 id, with QEMU's NS bit 29 and
 *      `_S` names for the Secure instances; the AArch32 views of registers QEMU names after their
 *      AArch64 form get their architectural AArch32 names (scripts/names/aarch32-names.js);
 *      ids that mean different registers on different CPUs get variants (qemu-names.js);
 *   3. KVM's own names: CORE and FW / FW_FEAT_BMAP ids from the annotated list, and the timer
 *      ids whose KVM meaning differs from the architectural encoding (KVM_TIMER_NAMES below).
 * A name must mean one register: where an AArch32 id's name is also an AArch64 id's name, the
 * AArch32 one is written `<name> (AArch32)`; where a U64 (MCRR) id shares its name with a U32
 * one (PAR, DBGDRAR), it is written `<name> (64-bit)`.
 * CP_ANY copies other than the 0 instance are left out: QEMU never migrates them.
 */
const fs = require('fs');
const path = require('path');
const { kernelNames } = require('./names/kernel-names');
const { qemuNames, genericForm } = require('./names/qemu-names');
const { AARCH64_NAMES } = require('./names/aarch64-names');

const REPO = path.resolve(__dirname, '..');

/** KVM uapi: the timer ids (kvm-regs.md §2.3). Under KVM these numbers mean these registers. */
const KVM_TIMER_NAMES = {
  '0x603000000013df1a': 'TIMER_CNT', // encoding of CNTV_CVAL_EL0, carries CNTVCT_EL0
  '0x603000000013df02': 'TIMER_CVAL', // encoding of CNTVCT_EL0, carries CNTV_CVAL_EL0
  '0x603000000013df19': 'TIMER_CTL',
  '0x603000000013df01': 'PTIMER_CNT',
  '0x603000000013df11': 'PTIMER_CTL',
  '0x603000000013df12': 'PTIMER_CVAL',
};

function args() {
  const a = process.argv.slice(2);
  const get = (flag, def) => {
    const i = a.indexOf(flag);
    return i >= 0 ? a[i + 1] : def;
  };
  const all = (flag) => a.flatMap((x, i) => (x === flag && a[i + 1] !== undefined ? [a[i + 1]] : []));
  const qemu = all('--qemu');
  return {
    qemu: qemu.length ? qemu : ['/tmp/qemu-src/qemu-7.2+dfsg', '/tmp/qemu-src/qemu-10.0.2'],
    data: get('--data', path.resolve(REPO, '..', 'shared', 'reference', 'data')),
    out: get('--out', path.join(REPO, 'domain', 'names', 'table.generated.ts')),
    check: a.includes('--check'),
  };
}

function build(opts) {
  const kernel = kernelNames(opts.data);
  const qemu = qemuNames(opts.qemu);
  const sysreg = new Map(kernel.sysreg);
  /** id -> other names lookups accept: QEMU's own name where an architectural one replaced it. */
  const aliases = new Map();
  for (const [id, a] of Object.entries(AARCH64_NAMES)) {
    if (sysreg.has(id)) throw new Error(`${id}: ${a.name} is named by the reference data already (${sysreg.get(id)})`);
    sysreg.set(id, a.name);
    aliases.set(id, [...a.aliases]);
  }
  const aarch32 = new Map();
  /** AArch32 views of registers QEMU defines for both states that keep QEMU's AArch64-style name. */
  const qemuStyle = new Set();
  /** id -> { defaultScope, variants: [name, scope][] } for ids whose name depends on the CPU. */
  const variants = new Map();
  let fromQemu64 = 0;
  let archAArch32 = 0;
  for (const [id, q] of qemu.names) {
    if (q.wild) continue;
    if (id.startsWith('0x603000000013')) {
      if (sysreg.has(id)) continue; // the architecture's name, for every CPU
      sysreg.set(id, q.name);
      fromQemu64++;
    } else {
      aarch32.set(id, q.name);
      if (q.qemuName !== undefined) {
        archAArch32++;
        aliases.set(id, [q.qemuName]);
      } else if (q.fromBoth && /_EL[0-3](_S)?$/.test(q.name)) qemuStyle.add(id);
    }
    if (q.variants.length) variants.set(id, { scope: q.scope, variants: q.variants.map((v) => [v.name, v.scope]) });
  }
  const upper64 = new Set([...sysreg.values(), ...kernel.core.values()].map((n) => n.toUpperCase()));
  // QEMU names the 32- and 64-bit accessors of one register alike (PAR, DBGDRAR): the U64 id
  // becomes `<name> (64-bit)`, as the Arm ARM's prose calls it.
  const upper32 = new Set([...aarch32].filter(([id]) => id.startsWith('0x4020')).map(([, n]) => n.toUpperCase()));
  const qualify = (id, name) => {
    if (upper64.has(name.toUpperCase()) || (qemuStyle.has(id) && name === aarch32.get(id))) return `${name} (AArch32)`;
    if (id.startsWith('0x4030') && upper32.has(name.toUpperCase())) return `${name} (64-bit)`;
    return name;
  };
  let qualified = 0;
  for (const [id, name] of aarch32) {
    const q = qualify(id, name);
    if (q !== name) {
      aarch32.set(id, q);
      qualified++;
    }
  }
  for (const [id, v] of variants) {
    if (!id.startsWith('0x603000000013')) v.variants = v.variants.map(([n, scope]) => [qualify(id, n), scope]);
  }
  // A name QEMU gives a migrated id and also an id it never migrates (MIDR at p15 0 c0 c0 0 and
  // its alias at p15 0 c0 c0 7): the migrated one keeps it, the other is written
  // `<name> (<generic form>)`.
  for (const m of [sysreg, aarch32]) {
    const groups = new Map();
    for (const [id, n] of m) {
      const k = `${id.slice(0, 6)}\u0000${n.toUpperCase()}`;
      groups.set(k, [...(groups.get(k) || []), id]);
    }
    for (const ids of groups.values()) {
      if (ids.length < 2) continue;
      const migrated = ids.filter((id) => qemu.names.get(id)?.rank === 0 || kernel.sysreg.has(id));
      if (migrated.length !== 1) continue;
      for (const id of ids) if (id !== migrated[0]) m.set(id, `${m.get(id)} (${genericForm(id)})`);
    }
  }
  // QEMU's names of the AArch32 views, as the old table wrote them: `<QEMU name> (AArch32)`.
  for (const [id, ns] of aliases)
    if (!id.startsWith('0x6030'))
      aliases.set(
        id,
        ns.map((n) => qualify(id, n)),
      );
  return {
    kernel,
    qemu,
    sysreg,
    aarch32,
    variants,
    aliases,
    stats: { fromKernel64: kernel.sysreg.size, fromQemu64, aarch32: aarch32.size, archAArch32, qualified },
  };
}

function duplicates(map) {
  const seen = new Map();
  for (const [id, name] of map) {
    const k = name.toUpperCase();
    seen.set(k, [...(seen.get(k) || []), id]);
  }
  return [...seen].filter(([, ids]) => ids.length > 1);
}

function q(s) {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function emit(b) {
  const sorted = (m) => [...m].sort((x, y) => (BigInt(x[0]) < BigInt(y[0]) ? -1 : 1));
  const low = (id, digits) =>
    '0x' + (BigInt(id) & ((1n << BigInt(4 * digits)) - 1n)).toString(16).padStart(digits, '0');
  const u32 = sorted(b.aarch32).filter(([id]) => id.startsWith('0x4020'));
  const u64 = sorted(b.aarch32).filter(([id]) => id.startsWith('0x4030'));
  const versions = b.qemu.trees.map((t) => t.version);
  const files = b.qemu.trees.map((t) => t.files.length);
  // Scopes the variants use, each with the ids that say a list is from a CPU that has it.
  const scopeNames = [
    ...new Set([...b.variants.values()].flatMap((v) => [v.scope, ...v.variants.map(([, s]) => s)])),
  ].sort();
  const scopeIndex = new Map(scopeNames.map((s, i) => [s, i]));
  const lines = [];
  lines.push('// GENERATED by scripts/gen-names.js — do not edit. Regenerate: see docs/names.md.');
  lines.push(
    `// Sources: QEMU ${versions.join(' and ')} ARMCPRegInfo definitions (${files.join(' and ')} files), Arm ARM AArch32 names,`,
  );
  lines.push('// ../shared/reference/data/sysreg-names.json + get-reg-list-ids-annotated.json, KVM uapi names.');
  lines.push('/* eslint-disable */');
  lines.push('');
  lines.push(`/** The QEMU versions whose register definitions are named here. */`);
  lines.push(`export const QEMU_VERSIONS: readonly string[] = [${versions.map(q).join(', ')}];`);
  lines.push('');
  lines.push(
    "/** AArch64 SYSREG ids (0x6030000000130000 | low 16 bits): [low 16 bits, name]. Architectural names, else QEMU's. */",
  );
  lines.push('export const SYSREG_NAMES: readonly (readonly [number, string])[] = [');
  for (const [id, n] of sorted(b.sysreg)) lines.push(`  [${low(id, 4)}, ${q(n)}],`);
  lines.push('];');
  lines.push('');
  lines.push(
    "/** AArch32 U32 ids (0x40200000 << 32 | low 32 bits, QEMU's NS bit 29 kept): [low 32 bits, name]. QEMU's names, architectural AArch32 names for views QEMU names after AArch64. */",
  );
  lines.push('export const AARCH32_U32_NAMES: readonly (readonly [number, string])[] = [');
  for (const [id, n] of u32) lines.push(`  [${low(id, 8)}, ${q(n)}],`);
  lines.push('];');
  lines.push('');
  lines.push('/** AArch32 U64 (MCRR/MRRC) ids (0x40300000 << 32 | low 32 bits): [low 32 bits, QEMU name]. */');
  lines.push('export const AARCH32_U64_NAMES: readonly (readonly [number, string])[] = [');
  for (const [id, n] of u64) lines.push(`  [${low(id, 8)}, ${q(n)}],`);
  lines.push('];');
  lines.push('');
  lines.push(
    "/** Other names lookups accept: QEMU's own where the table has the architecture's (DBGBVR0_EL1 (AArch32) for DBGBVR0): [id, name]. */",
  );
  lines.push('export const NAME_ALIASES: readonly (readonly [string, string])[] = [');
  for (const [id, ns] of sorted(b.aliases)) for (const n of ns) lines.push(`  [${q(id)}, ${q(n)}],`);
  lines.push('];');
  lines.push('');
  lines.push('/** KVM CORE ids (struct kvm_regs): [id, name]. */');
  lines.push('export const CORE_NAMES: readonly (readonly [string, string])[] = [');
  for (const [id, n] of sorted(b.kernel.core)) lines.push(`  [${q(id)}, ${q(n)}],`);
  lines.push('];');
  lines.push('');
  lines.push('/** KVM firmware pseudo-registers (FW and FW_FEAT_BMAP classes): [id, name]. */');
  lines.push('export const FW_NAMES: readonly (readonly [string, string])[] = [');
  for (const [id, n] of sorted(b.kernel.fw)) lines.push(`  [${q(id)}, ${q(n)}],`);
  lines.push('];');
  lines.push('');
  lines.push('/** SYSREG ids that mean another register under KVM (the uapi timer ids): [id, KVM name]. */');
  lines.push('export const KVM_SYSREG_NAMES: readonly (readonly [string, string])[] = [');
  for (const [id, n] of Object.entries(KVM_TIMER_NAMES).sort()) lines.push(`  [${q(id)}, ${q(n)}],`);
  lines.push('];');
  lines.push('');
  lines.push(
    '/** QEMU register tables (scopes) a list can be recognised by: [table, ids only that table migrates]. */',
  );
  lines.push('export const NAME_SCOPES: readonly (readonly [string, readonly string[]])[] = [');
  for (const s of scopeNames) lines.push(`  [${q(s)}, [${(b.qemu.signatures.get(s) || []).map(q).join(', ')}]],`);
  lines.push('];');
  lines.push('');
  lines.push(
    '/** Ids whose register depends on the CPU: [id, scope of the default name, [[name, scope], …]] (scopes index NAME_SCOPES). */',
  );
  lines.push(
    'export const NAME_VARIANTS: readonly (readonly [string, number, readonly (readonly [string, number])[]])[] = [',
  );
  for (const [id, v] of sorted(b.variants)) {
    const vs = v.variants.map(([n, s]) => `[${q(n)}, ${scopeIndex.get(s)}]`).join(', ');
    lines.push(`  [${q(id)}, ${scopeIndex.get(v.scope)}, [${vs}]],`);
  }
  lines.push('];');
  return lines.join('\n') + '\n';
}

function main() {
  const opts = args();
  const b = build(opts);
  const text = emit(b);
  if (opts.check) {
    const committed = fs.existsSync(opts.out) ? fs.readFileSync(opts.out, 'utf8') : '';
    if (committed !== text) {
      console.error(
        `${path.relative(process.cwd(), opts.out)} is stale: run scripts/gen-names.js (docs/names.md) and commit it`,
      );
      process.exit(1);
    }
    console.log(`${path.relative(process.cwd(), opts.out)} is fresh`);
    return;
  }
  fs.writeFileSync(opts.out, text);
  const s = b.stats;
  for (const t of b.qemu.trees)
    console.log(`QEMU ${t.version}: ${t.instances} register instances from ${t.files.length} files`);
  console.log(
    `SYSREG: ${s.fromKernel64} architectural + ${s.fromQemu64} QEMU-only names; AArch32: ${s.aarch32} (${s.archAArch32} architectural AArch32 names, ${s.qualified} qualified "(AArch32)" / "(64-bit)")`,
  );
  console.log(`${b.variants.size} ids name different registers on different CPUs (variants):`);
  for (const [id, v] of [...b.variants].sort()) {
    const name = b.sysreg.get(id) ?? b.aarch32.get(id);
    console.log(`  ${id} ${name} [${v.scope}] | ${v.variants.map(([n, sc]) => `${n} [${sc}]`).join(' | ')}`);
  }
  const unsigned = [...b.qemu.signatures].filter(([, ids]) => ids.length === 0).map(([sc]) => sc);
  if (unsigned.length)
    console.log(`tables with no id of their own (recognised only by a rival's absence): ${unsigned.join(', ')}`);
  for (const [label, m] of [
    ['SYSREG', b.sysreg],
    ['AArch32', b.aarch32],
  ]) {
    const d = duplicates(m);
    if (d.length)
      console.log(
        `${label} names shared by several ids (lookup refuses them when a list holds more than one): ${d.map(([n, ids]) => `${n}×${ids.length}`).join(', ')}`,
      );
  }
  console.log(`wrote ${path.relative(process.cwd(), opts.out)}`);
}

if (require.main === module) main();
module.exports = { build, emit, KVM_TIMER_NAMES };
