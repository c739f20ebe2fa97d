import {
  type RegId,
  ARCH_ARM,
  ARCH_ARM64,
  RegClass,
  SIZE_NAMES,
  aarch32Fields,
  archOf,
  classOf,
  formatRegId,
  loWord,
  sizeField,
  sysregFields,
} from '../regid';

/**
 * The name a register has when nothing better is known: the assembler's form for AArch64
 * sysregs (S3_3_C13_C0_2), the MRC/MCR operand form for AArch32 (`p15 0 c13 c0 3`, 64-bit
 * `p15 0 c2`, ` (NS)` when QEMU's Non-secure bit is set), and class-based forms for the rest.
 */
export function genericName(id: RegId): string {
  const arch = archOf(id);
  if (arch === ARCH_ARM) return genericAArch32(id);
  if (arch !== ARCH_ARM64) return formatRegId(id);
  const cls = classOf(id);
  const low = loWord(id) & 0xffff;
  switch (cls) {
    case RegClass.SYSREG: {
      const f = sysregFields(id);
      return `S${f.op0}_${f.op1}_C${f.crn}_C${f.crm}_${f.op2}`;
    }
    case RegClass.FW:
      return `FW_REG_${low}`;
    case RegClass.FW_FEAT_BMAP:
      return `FW_FEAT_BMAP_REG_${low}`;
    case RegClass.DEMUX:
      return `DEMUX_${(low >>> 8) & 0xff}_${low & 0xff}`;
    case RegClass.CORE:
      return `CORE_${SIZE_NAMES[sizeField(id)] ?? 'U?'}_${low}`;
    case RegClass.SVE:
      return `SVE_${SIZE_NAMES[sizeField(id)] ?? 'U?'}_0x${low.toString(16).padStart(4, '0')}`;
    default:
      return `CLASS_0x${cls.toString(16).padStart(4, '0')}_0x${low.toString(16).padStart(4, '0')}`;
  }
}

function genericAArch32(id: RegId): string {
  const f = aarch32Fields(id);
  const ns = f.ns ? ' (NS)' : '';
  if (f.is64) return `p${f.cp} ${f.opc1} c${f.crm}${ns}`;
  return `p${f.cp} ${f.opc1} c${f.crn} c${f.crm} ${f.opc2}${ns}`;
}
