/**
 * Register values as the API writes them: `0x` + hex digits, zero-padded to the register's width
 * (U32 → 8 digits, U2048 → 512); ids are `0x` + 16 digits. Values can be wider than a Number, so
 * they are BigInts here.
 */

const HEX = /^0x[0-9a-fA-F]{1,600}$/;

/** True for a value the API accepts (`0x` + 1 … 600 hex digits). */
export function isHexValue(s: string): boolean {
  return HEX.test(s);
}

/** `0x1f` → 31n; a TypeError for anything but `0x` + hex digits (no decimals, no signs). */
export function parseHex(s: string): bigint {
  if (!HEX.test(s)) throw new TypeError(`not a hex value (0x + hex digits): ${JSON.stringify(s)}`);
  return BigInt(s);
}

/** A value as the API writes it: `toHex(31n, 4)` → `0x0000001f` (`bytes` the register's size). */
export function toHex(v: bigint | number, bytes?: number): string {
  const n = typeof v === 'bigint' ? v : BigInt(v);
  if (n < 0n) throw new RangeError('a register value is not negative');
  const digits = n.toString(16);
  return '0x' + (bytes === undefined ? digits : digits.padStart(bytes * 2, '0'));
}

/** A register id as the API writes it: `0x` + 16 lower-case hex digits. */
export function regIdHex(id: bigint | string): string {
  const n = typeof id === 'bigint' ? id : parseHex(id);
  return '0x' + n.toString(16).padStart(16, '0');
}

/** Whether two hex strings are the same number (`0x1` and `0x0000000000000001` are). */
export function sameValue(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || !HEX.test(a) || !HEX.test(b)) return false;
  return BigInt(a) === BigInt(b);
}

/** `0x0000ffff8000a000` → `0xffff8000a000` (for narrow columns; the API always pads). */
export function shortHex(s: string): string {
  const m = /^0x0*([0-9a-fA-F]+)$/.exec(s);
  return m ? '0x' + m[1] : s;
}
