import { DomainError } from './errors';

/**
 * A register id in KVM ONE_REG format, always a bigint in 0..2^64-1:
 *   63..56 architecture (0x60 arm64, 0x40 arm), 55..52 size (2^n bytes), 27..16 arm64 class,
 *   15..0 sysreg op0/op1/CRn/CRm/op2; AArch32: cp<<16 | CRn<<11 | CRm<<7 | opc1<<3 | opc2, and
 *   QEMU's private Non-secure bit 29.
 */
export type RegId = bigint;

export const ARCH_ARM64 = 0x60;
export const ARCH_ARM = 0x40;

/** arm64 register classes (bits 27..16). */
export const RegClass = {
  CORE: 0x0010,
  DEMUX: 0x0011,
  SYSREG: 0x0013,
  FW: 0x0014,
  SVE: 0x0015,
  FW_FEAT_BMAP: 0x0016,
} as const;

export const SIZE_NAMES = ['U8', 'U16', 'U32', 'U64', 'U128', 'U256', 'U512', 'U1024', 'U2048'] as const;
export const MAX_SIZE_FIELD = 8;

const MASK64 = (1n << 64n) - 1n;
const ID_TEXT = /^0x[0-9a-fA-F]{16}$/;

// The halves of an id without a BigInt shift (which allocates): stored into a 64-bit slot and
// read back as two 32-bit words (a typed-array store wraps the id to 64 bits, as & MASK64 would).
const scratch64 = new BigUint64Array(1);
const scratch32 = new Uint32Array(scratch64.buffer);
const HI = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0; // little-endian host: hi word second

/** The high 32 bits of an id (the part that carries architecture and size), or of any 64-bit value. */
export function hiWord(id: RegId): number {
  scratch64[0] = id;
  return scratch32[HI]!;
}
export function loWord(id: RegId): number {
  scratch64[0] = id;
  return scratch32[1 - HI]!;
}

export function archOf(id: RegId): number {
  return hiWord(id) >>> 24;
}
export function sizeField(id: RegId): number {
  return (hiWord(id) >>> 20) & 0xf;
}
/** Size in bytes, 1..256 for a well-formed id. */
export function sizeBytes(id: RegId): number {
  return 1 << sizeField(id);
}
/** arm64 class (bits 27..16); for AArch32 ids these bits hold cp (and the NS bit is above them). */
export function classOf(id: RegId): number {
  return (loWord(id) >>> 16) & 0xfff;
}

/**
 * Well-formed: a known architecture, a size field 0..8, bits 51..32 zero (KVM refuses anything
 * else, and QEMU never makes such ids).
 */
export function wellFormedWords(hi: number, _lo: number): boolean {
  const arch = hi >>> 24;
  if (arch !== ARCH_ARM64 && arch !== ARCH_ARM) return false;
  if (((hi >>> 20) & 0xf) > MAX_SIZE_FIELD) return false;
  return (hi & 0x000fffff) === 0;
}
export function isWellFormed(id: RegId): boolean {
  return id >= 0n && id <= MASK64 && wellFormedWords(hiWord(id), loWord(id));
}

export function formatRegId(id: RegId): string {
  return '0x' + id.toString(16).padStart(16, '0');
}

/** Parses `0x` + 16 hex digits; refuses anything else, and any id that is not well formed. */
export function parseRegId(text: string): RegId {
  if (typeof text !== 'string' || !ID_TEXT.test(text)) {
    throw new DomainError('invalid-reg-id', `"${String(text).slice(0, 40)}" is not a register id (0x + 16 hex digits)`);
  }
  const id = BigInt(text);
  if (!isWellFormed(id)) {
    throw new DomainError(
      'invalid-reg-id',
      `${formatRegId(id)} is not a valid Arm register id (architecture 0x60/0x40, size U8..U2048, bits 51..32 zero)`,
      [id],
    );
  }
  return id;
}

export function isArm64(id: RegId): boolean {
  return archOf(id) === ARCH_ARM64;
}
export function isAArch32(id: RegId): boolean {
  return archOf(id) === ARCH_ARM;
}
export function isSysreg(id: RegId): boolean {
  return isArm64(id) && classOf(id) === RegClass.SYSREG;
}

export interface SysregFields {
  op0: number;
  op1: number;
  crn: number;
  crm: number;
  op2: number;
}

export function sysregFields(id: RegId): SysregFields {
  const lo = loWord(id);
  return {
    op0: (lo >>> 14) & 0x3,
    op1: (lo >>> 11) & 0x7,
    crn: (lo >>> 7) & 0xf,
    crm: (lo >>> 3) & 0xf,
    op2: lo & 0x7,
  };
}

/** An arm64 SYSREG id (U64) from its encoding. */
export function sysregId(f: SysregFields): RegId {
  const low = (f.op0 << 14) | (f.op1 << 11) | (f.crn << 7) | (f.crm << 3) | f.op2;
  return 0x6030000000130000n | BigInt(low);
}

export interface AArch32Fields {
  cp: number;
  crn: number;
  crm: number;
  opc1: number;
  opc2: number;
  /** 64-bit (MCRR/MRRC) register: U64 ids; these have no CRn/opc2. */
  is64: boolean;
  /** QEMU's private Non-secure-bank flag (bit 29), kept in TCG lists. */
  ns: boolean;
}

export function aarch32Fields(id: RegId): AArch32Fields {
  const lo = loWord(id);
  return {
    cp: (lo >>> 16) & 0xfff,
    crn: (lo >>> 11) & 0xf,
    crm: (lo >>> 7) & 0xf,
    opc1: (lo >>> 3) & 0xf,
    opc2: lo & 0x7,
    is64: sizeField(id) === 3,
    ns: ((lo >>> 29) & 1) === 1,
  };
}

/** An AArch32 id as QEMU's TCG lists carry it. */
export function aarch32Id(f: AArch32Fields): RegId {
  const low = ((f.ns ? 1 : 0) << 29) | (f.cp << 16) | (f.crn << 11) | (f.crm << 7) | (f.opc1 << 3) | f.opc2;
  const hi = f.is64 ? 0x40300000n : 0x40200000n;
  return (hi << 32n) | BigInt(low >>> 0);
}

/** Compare as unsigned 64-bit: ids are bigints in 0..2^64-1, so plain comparison is right. */
export function compareRegIds(a: RegId, b: RegId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
