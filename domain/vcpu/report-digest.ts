import { slotsFor } from '../cpreg-arrays';
import type { RegValues } from './events';

/**
 * The canonical bytes of a sync report, and their SHA-256: what a `SyncedFromAccelerator`
 * keeps of the values it does not store (it stores only the ones that changed).
 *
 * The bytes of a report: for every reported register, in ascending id order,
 *
 *     the id as 8 bytes, big-endian
 *     the value as 8 × slots bytes, big-endian (slots = 1 for a register of up to 8 bytes,
 *     size / 8 above: QEMU's raw 64-bit fields, so a 32-bit register's upper slot bits count)
 *
 * and nothing else (no count, no separator: every length follows from the id). Failed registers
 * are not in it; the event lists them. An empty report is the empty string of bytes. Any
 * implementation of SHA-256 recomputes the digest, e.g. `sha256sum` of these bytes.
 *
 * SHA-256 is written out here (FIPS 180-4) because the domain imports nothing; a report is a
 * few KiB (300 registers: 4,800 bytes, 76 blocks of 64).
 */
export function reportBytes(rv: RegValues): Uint8Array {
  const n = wordLength(rv);
  const words = fill(rv, n, n);
  const bytes = new Uint8Array(4 * n);
  for (let j = 0; j < n; j++) {
    const w = words[j]!;
    bytes[4 * j] = w >>> 24;
    bytes[4 * j + 1] = (w >>> 16) & 0xff;
    bytes[4 * j + 2] = (w >>> 8) & 0xff;
    bytes[4 * j + 3] = w & 0xff;
  }
  return bytes;
}

/**
 * A SHA-256 of the first n words of `message` (big-endian 32-bit words held as ints; the array is
 * paddedLength(n) long, zero after n, and the digest's to overwrite), as lowercase hex. A decider
 * hashes reports with the one it is given: any correct SHA-256 gives the same; digestOfMessage,
 * written out below, is the default.
 */
export type MessageDigest = (message: Int32Array, n: number) => string;

/** Lowercase hex SHA-256 of reportBytes(rv). */
export function reportSha256(rv: RegValues, digest: MessageDigest = digestOfMessage): string {
  const n = wordLength(rv);
  return digest(fill(rv, n, paddedLength(n)), n);
}

/** Words a message of n words takes with SHA-256's padding (a multiple of 16). */
export function paddedLength(n: number): number {
  return ((n + 3 + 15) >>> 4) << 4;
}

/**
 * SHA-256 of the first n words of `words` (zeroed after them, paddedLength(n) long): its padding
 * is a 1 bit, zeros, the length in bits as 64 bits (the message is a whole number of words, so
 * the 1 bit starts a word). The words path of a sync fills its message itself (report-words.ts).
 */
export function digestOfMessage(words: Int32Array, n: number): string {
  const padded = words.length;
  words[n] = 0x80000000 | 0;
  const bits = n * 32;
  words[padded - 2] = Math.floor(bits / 0x100000000) | 0;
  words[padded - 1] = bits | 0;
  return sha256Words(words);
}

/** The report's length in 32-bit words: 2 for the id and 2 per slot, per register. */
function wordLength(rv: RegValues): number {
  let n = 0;
  for (let k = 0; k < rv.ids.length; k++) n += 2 + 2 * slotsFor(rv.ids[k]!);
  return n;
}

// A 64-bit value's halves without BigInt shifts: stored into a 64-bit slot, read as 32-bit words.
const scratch64 = new BigUint64Array(1);
const scratch32 = new Int32Array(scratch64.buffer);
const HI = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0; // little-endian host: high word second
const MASK64 = (1n << 64n) - 1n;

/** The report's `n` words at the start of a zeroed array of `size` ≥ n words. */
function fill(rv: RegValues, n: number, size: number): Int32Array {
  const w = new Int32Array(size);
  if (n > size) throw new RangeError('report buffer too small');
  let o = 0;
  // k < ids.length; values is parallel to ids (RegValues)
  for (let k = 0; k < rv.ids.length; k++) {
    const id = rv.ids[k]!;
    const v = rv.values[k]!;
    scratch64[0] = id;
    w[o++] = scratch32[HI]!;
    w[o++] = scratch32[1 - HI]!;
    const slots = slotsFor(id);
    if (slots === 1) {
      scratch64[0] = v; // wraps to 64 bits, as & MASK64
      w[o++] = scratch32[HI]!;
      w[o++] = scratch32[1 - HI]!;
      continue;
    }
    // most significant slot first
    for (let j = slots - 1; j >= 0; j--) {
      scratch64[0] = (v >> BigInt(64 * j)) & MASK64;
      w[o++] = scratch32[HI]!;
      w[o++] = scratch32[1 - HI]!;
    }
  }
  return w;
}

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const W = new Int32Array(64);

/** SHA-256 of a message already padded, as big-endian 32-bit words (a multiple of 16 of them). */
function sha256Words(m: Int32Array): string {
  let h0 = 0x6a09e667 | 0;
  let h1 = 0xbb67ae85 | 0;
  let h2 = 0x3c6ef372 | 0;
  let h3 = 0xa54ff53a | 0;
  let h4 = 0x510e527f | 0;
  let h5 = 0x9b05688c | 0;
  let h6 = 0x1f83d9ab | 0;
  let h7 = 0x5be0cd19 | 0;
  const w = W;
  for (let off = 0; off < m.length; off += 16) {
    for (let t = 0; t < 16; t++) w[t] = m[off + t]!;
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15]!;
      const y = w[t - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) | 0;
    }
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    let f = h5;
    let g = h6;
    let h = h7;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[t]! + w[t]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + h) | 0;
  }
  return hex8(h0) + hex8(h1) + hex8(h2) + hex8(h3) + hex8(h4) + hex8(h5) + hex8(h6) + hex8(h7);
}

const hex8 = (x: number) => (x >>> 0).toString(16).padStart(8, '0');
