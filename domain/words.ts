/**
 * 64-bit ids and values as two unsigned 32-bit halves: what the hot paths read hex text into and
 * compare, without a BigInt per value (a sync's report, a stored write folded from its text).
 */
import type { RegId } from './regid';

/** The halves hexHalves read last (one read at a time: callers take them before the next). */
export const half = { hi: 0, lo: 0 };

/** "0x" + 1..16 hex digits (either case) → half.hi / half.lo; false when it is not that. */
export function hexHalves(t: string): boolean {
  const n = t.length;
  if (n < 3 || n > 18 || t.charCodeAt(0) !== 48 || t.charCodeAt(1) !== 120) return false;
  return hexRun(t, 2, 16) === n;
}

const NIBBLE = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) NIBBLE[48 + c] = c;
for (let c = 0; c < 6; c++) NIBBLE[97 + c] = NIBBLE[65 + c] = 10 + c;

/**
 * The hex digits (either case, at most `max`, up to 16) of `t` from `at` → half.hi / half.lo;
 * answers the position after the last one read (`at` itself when none is there).
 */
export function hexRun(t: string, at: number, max: number): number {
  let hi = 0;
  let lo = 0;
  let p = at;
  for (const end = at + max; p < end; p++) {
    const c = t.charCodeAt(p); // NaN past the end: no digit
    const d = c < 128 ? NIBBLE[c]! : -1;
    if (d < 0) break;
    hi = ((hi << 4) | (lo >>> 28)) >>> 0;
    lo = ((lo << 4) | d) >>> 0;
  }
  half.hi = hi;
  half.lo = lo;
  return p;
}

/**
 * Exactly 8 hex digits (either case) of `t` from `at` → their 32-bit value, or -1 where any of
 * them is not a hex digit (or the text ends). Why: a register id's 16 digits are its two words.
 */
export function hex8(t: string, at: number): number {
  let v = 0;
  let bad = 0;
  for (let k = 0; k < 8; k++) {
    const c = t.charCodeAt(at + k); // NaN past the end: c & 127 is 0, no digit
    // a code above 127 is no digit: (127 - c) >> 31 is -1 for it
    const d = NIBBLE[c & 127]! | ((127 - c) >> 31);
    bad |= d;
    v = (v << 4) | (d & 15);
  }
  return bad < 0 ? -1 : v >>> 0;
}

const scratch64 = new BigUint64Array(1);
const scratch32 = new Uint32Array(scratch64.buffer);
const HI = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0; // little-endian host: high word second

/** The 64-bit value of two halves. */
export function bits64(hi: number, lo: number): bigint {
  scratch32[HI] = hi;
  scratch32[1 - HI] = lo;
  return scratch64[0]!;
}

/** A list's ids as bigints, read out once per list (a typed array makes a new bigint per read). */
const idBigints = new WeakMap<BigUint64Array, readonly RegId[]>();

export function idsOf(list: BigUint64Array): readonly RegId[] {
  let ids = idBigints.get(list);
  if (!ids) idBigints.set(list, (ids = Array.from(list)));
  return ids;
}

/** A list's ids as 32-bit words, low word of id i at 2i, high at 2i + 1 (made once per list: lists are never mutated). */
const idWords = new WeakMap<BigUint64Array, Uint32Array>();

export function idWordsOf(list: BigUint64Array): Uint32Array {
  let w = idWords.get(list);
  if (!w) {
    w = new Uint32Array(2 * list.length);
    for (let i = 0; i < list.length; i++) {
      const id = list[i]!;
      w[2 * i] = Number(id & 0xffffffffn);
      w[2 * i + 1] = Number(id >> 32n);
    }
    idWords.set(list, w);
  }
  return w;
}

/** Index of the id (hi, lo) in an ascending list given as idWordsOf's words, or -1. */
export function findReg(w: Uint32Array, hi: number, lo: number): number {
  let l = 0;
  let h = (w.length >>> 1) - 1;
  while (l <= h) {
    const m = (l + h) >>> 1;
    const mh = w[2 * m + 1]!; // l <= m <= h < w.length / 2
    const ml = w[2 * m]!;
    if (mh === hi && ml === lo) return m;
    if (mh < hi || (mh === hi && ml < lo)) l = m + 1;
    else h = m - 1;
  }
  return -1;
}
