import fc from 'fast-check';
import { layoutArrays, writeValueAt, type CpregArrays } from '../../domain/cpreg-arrays';
import { sizeBytes } from '../../domain/regid';

/** A well-formed arm64 id of the given size field (class and index random). */
export function arbId(maxSizeField: number): fc.Arbitrary<bigint> {
  return fc
    .record({
      size: fc.integer({ min: 0, max: maxSizeField }),
      cls: fc.constantFrom(0x11, 0x13, 0x14, 0x16),
      idx: fc.integer({ min: 0, max: 0xffff }),
    })
    .map(({ size, cls, idx }) => 0x6000000000000000n | (BigInt(size) << 52n) | (BigInt(cls) << 16n) | BigInt(idx));
}

/** Random arrays: a sorted unique list and a value of each register's full width. */
export function arbArrays(maxSizeField: number, maxLen = 40): fc.Arbitrary<CpregArrays> {
  return fc.uniqueArray(arbId(maxSizeField), { maxLength: maxLen }).chain((ids) => {
    const sorted = BigUint64Array.from(ids).sort();
    return fc
      .tuple(...Array.from(sorted, (id) => fc.bigInt({ min: 0n, max: (1n << BigInt(sizeBytes(id) * 8)) - 1n })))
      .map((values) => {
        const a = layoutArrays(sorted);
        values.forEach((v, i) => writeValueAt(a, i, v));
        return a;
      });
  });
}
