import { DomainError } from './errors';
import { RegId, sizeBytes } from './regid';

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
