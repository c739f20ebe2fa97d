'use strict';
/**
 * Turns QEMU's ARMCPRegInfo initialisers into register instances {id, name, …}, following
 * what QEMU 7.2's define_one_arm_cp_reg_with_opaque / add_cpreg_to_hashtable do with them
 * (target/arm/helper.c):
 *  - CP_ANY in crm/opc1/opc2 is expanded over 0..15 / 0..7 / 0..7; every instance but the
 *    0 one is ALIAS (never migrated);
 *  - ARM_CP_STATE_BOTH gives an AArch64 view (cp 0x13, opc0) and an AArch32 view (cp 15
 *    when .cp is 0); STATE_AA32 is the default;
 *  - an AArch32 view with .secure = SECSTATE_BOTH (the default) gives a Secure instance named
 *    `<name>_S` (NS bit 29 clear) and a Non-secure one named `<name>` (bit 29 set); SECSTATE_S /
 *    _NS give one instance, named `<name>`;
 *  - AArch32 ids are `ns<<29 | cp<<16 | crn<<11 | crm<<7 | opc1<<3 | opc2` with size U32, or U64
 *    for ARM_CP_64BIT; AArch64 ids are the KVM SYSREG encoding;
 *  - (QEMU 10.0) an AArch64 TLBI marked ARM_CP_ADD_TLBI_NXS also gets its nXS form, `<name>NXS`
 *    at CRn + 1.
 * `migratable` is false where QEMU marks the instance ALIAS / NO_RAW on every CPU; the banked
 * Secure instance depends on the CPU (ALIAS with ARM_FEATURE_V8), so it counts as migratable.
 */
const { evalInt, typeFlags } = require('./c-expr');
const { ruleFor } = require('./loop-rules');

const CP_ANY = 0xff;
const STATE_AA32 = 0;
const STATE_AA64 = 1;
const STATE_BOTH = 2;
const SEC_BOTH = 0;
const SEC_S = 1;
const SEC_NS = 2;
const SPECIALS = [
  'ARM_CP_NOP',
  'ARM_CP_WFI',
  'ARM_CP_NZCV',
  'ARM_CP_CURRENTEL',
  'ARM_CP_DC_ZVA',
  'ARM_CP_DC_GVA',
  'ARM_CP_DC_GZVA',
];

/** True for an initialiser of an ARMCPRegInfo (and not, say, a TypeInfo). */
function isCpRegInfo(fields) {
  return ['cp', 'crn', 'crm', 'opc0', 'opc1', 'opc2'].some((k) => k in fields);
}

function field(fields, key, vars, where) {
  if (!(key in fields)) return 0; // C zero-initialises omitted members
  const v = evalInt(fields[key], vars);
  if (v === undefined) throw new Error(`${where}: cannot evaluate .${key} = ${fields[key]}`);
  return v;
}

function range(v, max) {
  if (v !== CP_ANY) return [v];
  return Array.from({ length: max + 1 }, (_, k) => k);
}

function hex(id) {
  return '0x' + id.toString(16).padStart(16, '0');
}

function aarch32Id(ns, cp, is64, crn, crm, opc1, opc2) {
  const lo = ((ns << 29) | (cp << 16) | (crn << 11) | (crm << 7) | (opc1 << 3) | opc2) >>> 0;
  return ((is64 ? 0x40300000n : 0x40200000n) << 32n) | BigInt(lo);
}

function sysregId(op0, op1, crn, crm, op2) {
  return 0x6030000000130000n | BigInt((op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2);
}

/** Instances of one initialiser, evaluated with the loop variables in `vars`. */
function expandOne(fields, name, vars, where) {
  const state = 'state' in fields ? field(fields, 'state', vars, where) : STATE_AA32;
  const secure = field(fields, 'secure', vars, where);
  const cp = field(fields, 'cp', vars, where);
  const crn = field(fields, 'crn', vars, where);
  const op0 = field(fields, 'opc0', vars, where);
  const crmR = field(fields, 'crm', vars, where);
  const opc1R = field(fields, 'opc1', vars, where);
  const opc2R = field(fields, 'opc2', vars, where);
  const flags = typeFlags(fields.type);
  const is64 = flags.has('ARM_CP_64BIT');
  const neverRaw = flags.has('ARM_CP_ALIAS') || flags.has('ARM_CP_NO_RAW') || SPECIALS.some((s) => flags.has(s));
  const banked = 'bank_fieldoffsets' in fields;
  const out = [];
  for (const crm of range(crmR, 15)) {
    for (const opc1 of range(opc1R, 7)) {
      for (const opc2 of range(opc2R, 7)) {
        const wildAlias =
          (crmR === CP_ANY && crm !== 0) || (opc1R === CP_ANY && opc1 !== 0) || (opc2R === CP_ANY && opc2 !== 0);
        const base = { where, banked, wild: wildAlias, neverRaw: neverRaw || wildAlias };
        if (state === STATE_AA64 || state === STATE_BOTH) {
          out.push({
            ...base,
            id: sysregId(op0, opc1, crn, crm, opc2),
            name,
            view: 'aa64',
            fromBoth: state === STATE_BOTH,
            migratable: !base.neverRaw,
          });
          // QEMU 10.0: a TLBI with an nXS form (FEAT_XS) also gets `<name>NXS` at CRn + 1.
          if (flags.has('ARM_CP_ADD_TLBI_NXS')) {
            out.push({
              ...base,
              id: sysregId(op0, opc1, crn + 1, crm, opc2),
              name: `${name}NXS`,
              view: 'aa64',
              fromBoth: false,
              migratable: !base.neverRaw,
            });
          }
        }
        if (state === STATE_AA32 || state === STATE_BOTH) {
          const cp32 = cp === 0 && state === STATE_BOTH ? 15 : cp;
          const mk = (ns, nm, secureSuffix = false) => {
            // add_cpreg_to_hashtable's AArch32 ALIAS rules (banked: NS of a BOTH register;
            // not banked: the instance whose secstate differs from .secure, if Secure).
            const alias = banked ? state === STATE_BOTH && ns === 1 : secure !== (ns ? SEC_NS : SEC_S) && ns === 0;
            return {
              ...base,
              id: aarch32Id(ns, cp32, is64, crn, crm, opc1, opc2),
              name: nm,
              view: 'aa32',
              ns: ns === 1,
              secureSuffix,
              fromBoth: state === STATE_BOTH,
              migratable: !base.neverRaw && !alias,
            };
          };
          if (secure === SEC_S) out.push(mk(0, name));
          else if (secure === SEC_NS) out.push(mk(1, name));
          else if (secure === SEC_BOTH) {
            out.push(mk(0, `${name}_S`, true));
            out.push(mk(1, name));
          } else throw new Error(`${where}: unexpected .secure ${secure}`);
        }
      }
    }
  }
  return out;
}

/** All instances of the initialisers of one source file, each with the variable (`container`) it is defined in. */
function expandInitializers(inits, file) {
  const out = [];
  for (const { fields, line, container } of inits) {
    if (!isCpRegInfo(fields)) continue;
    const where = `${file}:${line}`;
    const tag = (xs) => xs.map((x) => ({ ...x, container }));
    const rule = ruleFor(fields, container);
    if (rule) {
      for (let v = rule.from; v <= rule.to; v++) {
        const vars = { [rule.variable]: v, ...(rule.locals ? rule.locals(v) : {}) };
        out.push(...tag(expandOne(fields, rule.name(v), vars, where)));
      }
      continue;
    }
    const lit = /^"([^"]*)"$/.exec(fields.name);
    if (!lit) throw new Error(`${where}: .name = ${fields.name} is not a literal and no loop rule covers it`);
    if (lit[1] === '') continue; // an unnamed NOP placeholder (OMAP): nothing to name
    out.push(...tag(expandOne(fields, lit[1], {}, where)));
  }
  return out;
}

module.exports = { expandInitializers, isCpRegInfo, hex };
