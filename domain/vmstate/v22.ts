import type { CpregArrays } from '../cpreg-arrays';
import { DomainError } from '../errors';
import type { RegId } from '../regid';
import { checkIdWords, listRegs, malformed, V22_MAX_SIZE_FIELD, wideIds } from './check';
import { HI, LO, readU64Words, words32, writeU64Block } from './words';

/**
 * v22 (QEMU 7.2 … master, fields 13–15 of the `cpu` section), direct addressing:
 *   be32 N | N × be64 index | N × be64 value  
 * Each value is the register's raw 64-bit slot, kept as it is (a 32-bit register's slot may carry
 * upper bits: QEMU 10.0 writes them, see checkIdWords).
 */
export function decodeV22(blob: Uint8Array): CpregArrays {
  if (blob.length < 4) throw malformed(`v22 blob truncated: ${blob.length} bytes, the 4-byte count is incomplete`);
  // the count by hand: no DataView allocated per blob
  const n = (blob[0]! << 24) | (blob[1]! << 16) | (blob[2]! << 8) | blob[3]!;
  if (n < 0) throw malformed(`v22 register count ${n} is negative`);
  const expected = 4 + 16 * n;
  if (blob.length !== expected) {
    throw malformed(
      `v22 blob with ${n} registers must be ${expected} bytes, got ${blob.length} (${blob.length < expected ? 'truncated' : 'trailing bytes'})`,
    );
  }
  // ids and values are contiguous: one buffer, two views
  const w = readU64Words(blob, 4, 2 * n);
  const ids = new BigUint64Array(w.buffer, 0, n);
  const values = new BigUint64Array(w.buffer, 8 * n, n);
  // A blob QEMU wrote passes the one tight loop; anything else gets checkIdWords' exact refusal.
  if (!plainlyValid(w, n)) checkIdWords(w, 0, ids, V22_MAX_SIZE_FIELD);
  return { cpregIndexes: ids, cpregValueIndexes: directIndexes(n), cpregValues: values };
}

/**
 * Every id an Arm id of at most 8 bytes (architecture 0x60 or 0x40, size field ≤ 3, bits 51..32
 * zero) and strictly ascending: what checkIdWords(…, V22_MAX_SIZE_FIELD) accepts, in one pass of
 * numbers. False only says "let checkIdWords look".
 */
function plainlyValid(w: Uint32Array, n: number): boolean {
  let ph = -1;
  let pl = -1;
  const hi = HI; // module bindings, read once
  const lo = LO;
  for (let k = 0; k < 2 * n; k += 2) {
    const h = w[k + hi]!;
    const l = w[k + lo]!;
    // architecture 0x60 or 0x40 (they differ in bit 29 only), size field ≤ 3, bits 51..32 zero: one test
    if (((h | 0x20000000) & 0xffcfffff) !== 0x60000000) return false;
    if (h === ph ? l <= pl : h < ph) return false;
    ph = h;
    pl = l;
  }
  return true;
}

/** No id wider than 8 bytes (size field ≤ 3): one pass of numbers. */
function allNarrow(ids: BigUint64Array): boolean {
  const w = words32(ids);
  for (let k = HI; k < w.length; k += 2) if ((w[k]! & 0x00c00000) !== 0) return false;
  return true;
}

/** Direct addressing: value_index[i] = i. Shared per length; arrays are never written in place. */
const directCache = new Map<number, Uint32Array>();
function directIndexes(n: number): Uint32Array {
  let a = directCache.get(n);
  if (!a) {
    a = new Uint32Array(n);
    for (let i = 0; i < n; i++) a[i] = i;
    if (directCache.size < 64) directCache.set(n, a);
  }
  return a;
}

/** Registers a v22 blob cannot carry (wider than 8 bytes), ascending. */
export function tooWideForV22(a: CpregArrays): RegId[] {
  return wideIds(a.cpregIndexes);
}

export function encodeV22(a: CpregArrays): Uint8Array {
  const wide = allNarrow(a.cpregIndexes) ? [] : tooWideForV22(a);
  if (wide.length) {
    throw new DomainError(
      'not-representable',
      `v22 cannot carry registers wider than 8 bytes; export v23 instead. Too wide: ${listRegs(wide)}`,
      wide,
    );
  }
  const n = a.cpregIndexes.length;
  const out = new Uint8Array(4 + 16 * n);
  out[0] = n >>> 24;
  out[1] = (n >>> 16) & 0xff;
  out[2] = (n >>> 8) & 0xff;
  out[3] = n & 0xff;
  // Every register takes exactly one slot here, so value i sits in slot valueIndexes[i] = i.
  const ids = a.cpregIndexes;
  const values = a.cpregValues.length === n ? a.cpregValues : gatherOneSlotEach(a);
  if (values.buffer === ids.buffer && values.byteOffset === ids.byteOffset + 8 * n) {
    // ids and values side by side (as decodeV22 makes them): one block, one swap
    writeU64Block(out, 4, new BigUint64Array(ids.buffer, ids.byteOffset, 2 * n));
  } else {
    writeU64Block(out, 4, ids);
    writeU64Block(out, 4 + 8 * n, values);
  }
  return out;
}

function gatherOneSlotEach(a: CpregArrays): BigUint64Array {
  const out = new BigUint64Array(a.cpregIndexes.length);
  for (let i = 0; i < out.length; i++) out[i] = a.cpregValues[a.cpregValueIndexes[i]!]!;
  return out;
}
