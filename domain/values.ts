import { DomainError } from './errors';
import { hiWord, loWord, RegId, sizeBytes } from './regid';

/** Values travel as `0x` + hex digits; at most a U2048 register's 512 digits (plus leading zeros). */
const VALUE_TEXT = /^0x[0-9a-fA-F]{1,600}$/;

export function parseValue(text: unknown): bigint {
  if (typeof text !== 'string' || !VALUE_TEXT.test(text)) {
    throw new DomainError('invalid-value', `value ${describe(text)} is not a hex string (0x followed by hex digits)`);
  }
  return BigInt(text);
}

function describe(x: unknown): string {
  if (typeof x === 'string') return JSON.stringify(x.length > 40 ? x.slice(0, 40) + '…' : x);
  return typeof x;
}

/**
 * The register's value zero-padded to its width: U32 → 8 digits, U2048 → 512 digits. A value
 * with bits above a narrow register's width (QEMU's raw 64-bit slot, which QEMU 10.0 fills for
 * the AArch32 views of CTR and CLIDR) is shown whole, as the 16 digits of its slot.
 */
export function formatValue(id: RegId, value: bigint): string {
  if (value < 0n) return '0x' + value.toString(16).padStart(16, '0'); // never a register's value
  const digits = value.toString(16);
  const own = 2 * sizeBytes(id);
  const width = digits.length <= own ? own : 16; // fits the register (fitsRegister), or its slot
  return digits.length >= width ? '0x' + digits : '0x' + ZEROS.slice(0, width - digits.length) + digits;
}
const ZEROS = '0'.repeat(512);

/** 2^(8 × bytes) for 2^0..2^15 bytes, made once each (a BigInt shift per check allocates). */
const limits: bigint[] = [];
function limitOf(bytes: number): bigint {
  const field = 31 - Math.clz32(bytes);
  return (limits[field] ??= 1n << BigInt(bytes * 8));
}

/** Whether the value fits the register's own width: what a user may write. */
export function fitsRegister(id: RegId, value: bigint): boolean {
  return value >= 0n && value < limitOf(sizeBytes(id));
}

/**
 * Whether the value fits the register's storage: its slots (64 bits for any register of 8 bytes
 * or less). What QEMU holds, and so what blobs, streams and syncs from the accelerator may carry.
 */
export function fitsSlots(id: RegId, value: bigint): boolean {
  return value >= 0n && value < limitOf(Math.max(8, sizeBytes(id)));
}

/** Room writeValueText needs for a value that fits this register's slots (fitsSlots): `0x` and its digits. */
export const valueTextRoom = (id: RegId): number => 2 + Math.max(16, 2 * sizeBytes(id));

const M64 = (1n << 64n) - 1n;
/** The ASCII codes of the hex digits. */
const DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/**
 * The ASCII of formatValue(id, value) written into `out` at `at` (which has valueTextRoom(id)
 * bytes there, for a value that fits the register's slots); answers the offset after it. Why: an
 * answer or an event of hundreds of values is written as bytes, without a string per value.
 */
export function writeValueText(out: Uint8Array, at: number, id: RegId, value: bigint): number {
  const own = 2 * sizeBytes(id);
  if (value < 0n || value > M64 || own > 512) {
    // wider than a slot, or an id of no register size: as formatValue writes it (the caller made room for it)
    const t = formatValue(id, value);
    for (let k = 0; k < t.length; k++) out[at + k] = t.charCodeAt(k);
    return at + t.length;
  }
  const hi = hiWord(value); // its 32-bit halves without a bigint shift (value < 2^64)
  const lo = loWord(value);
  const digits = hi !== 0 ? 8 + ((35 - Math.clz32(hi)) >> 2) : Math.max(1, (35 - Math.clz32(lo)) >> 2);
  const width = digits <= own ? own : 16; // as formatValue: the register's width, or its slot's
  const end = at + 2 + Math.max(digits, width);
  out[at] = 48; // 0
  out[at + 1] = 120; // x
  for (let p = at + 2; p < end - digits; p++) out[p] = 48;
  let p = end - 1;
  for (let k = 0, x = lo; k < 8 && p >= end - digits; k++, x >>>= 4) out[p--] = DIGITS[x & 15]!;
  for (let x = hi; p >= end - digits; x >>>= 4) out[p--] = DIGITS[x & 15]!;
  return end;
}

/**
 * The digits formatValue gives a register's value when they are exactly its own (2 per byte of a
 * register of at most 8 bytes, zero-padded): 0 when it writes another number of them (a value
 * past the register's size, a register wider than a slot). Why: such a value can be written over a
 * template of the register's text, digits zeroed, at a fixed place.
 */
export function ownDigits(id: RegId, value: bigint): number {
  const d = 2 * sizeBytes(id);
  if (d > 16 || value < 0n) return 0;
  return value < (LIMITS[d] ?? 0n) ? d : 0;
}
const LIMITS: Record<number, bigint> = { 2: 1n << 8n, 4: 1n << 16n, 8: 1n << 32n, 16: 1n << 64n };

/** The `digits` lowest hex digits of a value (hi, lo: its 32-bit halves) into out[at, at + digits). */
export function writeDigitsAt(out: Uint8Array, at: number, digits: number, hi: number, lo: number): void {
  let p = at + digits - 1;
  for (let k = 0, x = lo; k < 8 && p >= at; k++, x >>>= 4) out[p--] = DIGITS[x & 15]!;
  for (let x = hi; p >= at; x >>>= 4) out[p--] = DIGITS[x & 15]!;
}
