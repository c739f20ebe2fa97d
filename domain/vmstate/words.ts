/**
 * Big-endian blocks of u64/u32 to and from typed arrays, fast: the blob codecs move whole
 * arrays, so they work on 32-bit halves (numbers) instead of one bigint per element.
 */

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * A native in-memory byte swap when the runtime has one (Node's Buffer.swap64: pure, and about
 * twice as fast as element-wise DataView access); undefined elsewhere, where DataView serves.
 */
type Swapper = (bytes: Uint8Array) => void;
const swap64: Swapper | undefined = (() => {
  const B = (globalThis as { Buffer?: { prototype: { swap64(this: Uint8Array): unknown } } }).Buffer;
  // called on the Uint8Array itself (it takes any byte view): no Buffer object made per swap
  const native = B?.prototype.swap64;
  return native && LITTLE_ENDIAN_HOST ? (bytes: Uint8Array) => void native.call(bytes) : undefined;
})();

/** `src` as big-endian u64 into `out` at `offset`. */
export function writeU64Block(out: Uint8Array, offset: number, src: BigUint64Array): void {
  if (swap64) {
    const dst = out.subarray(offset, offset + src.length * 8);
    dst.set(new Uint8Array(src.buffer, src.byteOffset, src.length * 8));
    swap64(dst);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (LITTLE_ENDIAN_HOST) {
    const w = new Uint32Array(src.buffer, src.byteOffset, src.length * 2);
    for (let i = 0, o = offset; i < src.length; i++, o += 8) {
      view.setUint32(o, w[2 * i + 1]!, false);
      view.setUint32(o + 4, w[2 * i]!, false);
    }
  } else {
    for (let i = 0; i < src.length; i++) view.setBigUint64(offset + 8 * i, src[i]!, false);
  }
}

/**
 * count big-endian u64 of `bytes` at `offset` into one fresh buffer, returned as 32-bit words
 * (low word of element i at 2i, high at 2i+1). Callers cut BigUint64Array views from
 * `words.buffer`, so a decode allocates one buffer for ids and values together.
 */
export function readU64Words(bytes: Uint8Array, offset: number, count: number): Uint32Array {
  const w = new Uint32Array(count * 2);
  if (swap64) {
    const dst = new Uint8Array(w.buffer);
    dst.set(bytes.subarray(offset, offset + count * 8));
    swap64(dst);
    return w;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (LITTLE_ENDIAN_HOST) {
    for (let i = 0, o = offset; i < w.length; i += 2, o += 8) {
      w[i + 1] = view.getUint32(o, false);
      w[i] = view.getUint32(o + 4, false);
    }
  } else {
    for (let i = 0, o = offset; i < w.length; i += 2, o += 8) {
      w[i] = view.getUint32(o, false);
      w[i + 1] = view.getUint32(o + 4, false);
    }
  }
  return w;
}

/** The 32-bit halves of a word array from readU64Words, whatever the host order. */
export const HI = LITTLE_ENDIAN_HOST ? 1 : 0;
export const LO = 1 - HI;

export function readU32Block(view: DataView, offset: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0, o = offset; i < count; i++, o += 4) out[i] = view.getUint32(o, false);
  return out;
}

export function writeU32Block(view: DataView, offset: number, src: Uint32Array): void {
  for (let i = 0, o = offset; i < src.length; i++, o += 4) view.setUint32(o, src[i]!, false);
}

/**
 * The elements of `a` as 32-bit words, low word of element i at 2i and high at 2i+1 (a view on
 * little-endian hosts, a copy elsewhere) — checks run on numbers instead of bigints.
 */
export function words32(a: BigUint64Array): Uint32Array {
  if (LITTLE_ENDIAN_HOST) return new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
  const w = new Uint32Array(a.length * 2);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    w[2 * i] = Number(x & 0xffffffffn);
    w[2 * i + 1] = Number(x >> 32n);
  }
  return w;
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
