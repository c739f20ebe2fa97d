import { type RegId, RegClass, classOf, isArm64, loWord, sizeField } from '../regid';

/**
 * KVM names that follow from a formula rather than a table (kvm-regs.md §2.2, §2.5):
 *  - DEMUX CCSIDR: 0x6020000000110000 | CSSELR value  -> DEMUX_CCSIDR_<n>
 *  - SVE: Z<n> (U2048, 0x000 | n<<5 | slice), P<n> (U256, 0x400 | n<<5 | slice),
 *    FFR (U256, 0x600 | slice), SVE_VLS (U512, 0xffff). KVM implements slice 0 only; other
 *    slices are named <reg>_SLICE<i>.
 * Returns undefined for anything else (including a right number with the wrong size).
 */
export function kvmRuleName(id: RegId): string | undefined {
  if (!isArm64(id)) return undefined;
  const low = loWord(id) & 0xffff;
  const size = sizeField(id);
  switch (classOf(id)) {
    case RegClass.DEMUX:
      return size === 2 && (low & 0xff00) === 0 ? `DEMUX_CCSIDR_${low & 0xff}` : undefined;
    case RegClass.SVE:
      return sveName(low, size);
    default:
      return undefined;
  }
}

const U256 = 5;
const U512 = 6;
const U2048 = 8;

function sveName(low: number, size: number): string | undefined {
  if (low === 0xffff) return size === U512 ? 'SVE_VLS' : undefined;
  const slice = low & 0x1f;
  const suffix = slice === 0 ? '' : `_SLICE${slice}`;
  if (low < 0x400) return size === U2048 ? `Z${low >>> 5}${suffix}` : undefined;
  if (low < 0x600) return size === U256 ? `P${(low - 0x400) >>> 5}${suffix}` : undefined;
  if (low < 0x620) return size === U256 ? `FFR${suffix}` : undefined;
  return undefined;
}
