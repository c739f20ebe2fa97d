/**
 * Big-endian blocks of u64/u32 to and from typed arrays, fast: the blob codecs move whole
 * arrays, so they work on 32-bit halves (numbers) instead of one bigint per element.
 */

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** count big-endian u64 at `offset` → a BigUint64Array (host order). */
export function readU64Block(view: DataView, offset: number, count: number): BigUint64Array {
  const out = new BigUint64Array(count);
  if (LITTLE_ENDIAN_HOST) {
    const w = new Uint32Array(out.buffer);
    for (let i = 0, o = offset; i < count; i++, o += 8) {
      w[2 * i + 1] = view.getUint32(o, false);
      w[2 * i] = view.getUint32(o + 4, false);
    }
  } else {
    for (let i = 0; i < count; i++) out[i] = view.getBigUint64(offset + 8 * i, false);
  }
  return out;
}

export function writeU64Block(view: DataView, offset: number, src: BigUint64Array): void {
  if (LITTLE_ENDIAN_HOST) {
    const w = new Uint32Array(src.buffer, src.byteOffset, src.length * 2);
    for (let i = 0, o = offset; i < src.length; i++, o += 8) {
      view.setUint32(o, w[2 * i + 1], false);
      view.setUint32(o + 4, w[2 * i], false);
    }
  } else {
    for (let i = 0; i < src.length; i++) view.setBigUint64(offset + 8 * i, src[i], false);
  }
}

export function readU32Block(view: DataView, offset: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0, o = offset; i < count; i++, o += 4) out[i] = view.getUint32(o, false);
  return out;
}

export function writeU32Block(view: DataView, offset: number, src: Uint32Array): void {
  for (let i = 0, o = offset; i < src.length; i++, o += 4) view.setUint32(o, src[i], false);
}

/** High and low 32-bit halves of element i, whatever the host order. */
export function halves(a: BigUint64Array): { hi: (i: number) => number; lo: (i: number) => number } {
  if (LITTLE_ENDIAN_HOST) {
    const w = new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
    return { hi: (i) => w[2 * i + 1], lo: (i) => w[2 * i] };
  }
  return { hi: (i) => Number(a[i] >> 32n), lo: (i) => Number(a[i] & 0xffffffffn) };
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
