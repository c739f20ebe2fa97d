import { listFor } from '../../domain/accelerators';
import fc from 'fast-check';
import { indexesIn, indexOfReg, layoutArrays, readValueAt, slotsFor, writeValueAt } from '../../domain/cpreg-arrays';
import { encodeV22 } from '../../domain/vmstate/v22';
import { decodeV23, encodeV23 } from '../../domain/vmstate/v23';
import { DEMUX_CCSIDR_IDS, describeWithReference, kernelLists, readReferenceJson } from '../helpers/reference';

const fw = (sizeField: number, n: number) => 0x6000000000140000n | (BigInt(sizeField) << 52n) | BigInt(n);

describe('cpreg arrays (indirect addressing)', () => {
  test('slot rule: <8 bytes one slot, else size/8', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map((s) => slotsFor(fw(s, 0x100)))).toEqual([1, 1, 1, 1, 2, 4, 8, 16, 32]);
  });

  test('limb order: slot value_index+j holds bits 64j..64j+63', () => {
    const u128 = fw(4, 0x200);
    const a = layoutArrays(BigUint64Array.from([0x6030000000140000n, u128]));
    writeValueAt(a, 1, 0x1111111111111111_2222222222222222n);
    expect(Array.from(a.cpregValueIndexes)).toEqual([0, 1]);
    expect(a.cpregValues[1]).toBe(0x2222222222222222n);
    expect(a.cpregValues[2]).toBe(0x1111111111111111n);
    expect(readValueAt(a, 1)).toBe(0x1111111111111111_2222222222222222n);
  });

  describeWithReference('the 18 kernel lists of the get-reg-list selftest', () => {
    const summary = readReferenceJson<{ configs: Record<string, { qemu_cpreg_count: number }> }>(
      'get-reg-list-summary.json',
    );

    describe.each(kernelLists())('kernel list $config', ({ config, ids }) => {
      const kept = listFor('kvm', [...ids, ...DEMUX_CCSIDR_IDS]);

      test('keeps what QEMU keeps: blessed − CORE − SVE + 14 DEMUX', () => {
        const qemuCount = summary.configs[config]?.qemu_cpreg_count;
        expect(qemuCount).toEqual(expect.any(Number));
        expect(kept.length).toBe(qemuCount! + 14);
        const a = layoutArrays(kept);
        expect(a.cpregIndexes.length).toBe(kept.length);
        expect(a.cpregValues.length).toBe(kept.length); // all U32/U64: one slot each
        expect(Array.from(a.cpregValueIndexes)).toEqual(Array.from(kept, (_, i) => i));
      });

      test('with firmware pseudo-registers of U8, U16, U128, U256 and U2048', () => {
        const extra = [fw(0, 0x100), fw(1, 0x101), fw(4, 0x102), fw(5, 0x103), fw(8, 0x104)];
        const list = listFor('kvm', [...ids, ...DEMUX_CCSIDR_IDS, ...extra]);
        const a = layoutArrays(list);
        const n = a.cpregIndexes.length;
        expect(n).toBe(kept.length + 5);
        // 2 one-slot registers + 2 + 4 + 32 slots
        expect(a.cpregValues.length).toBe(kept.length + 2 + 2 + 4 + 32);
        // value indexes: each register starts where the previous one's slots end
        let next = 0;
        for (const [i, id] of a.cpregIndexes.entries()) {
          expect(a.cpregValueIndexes[i]).toBe(next);
          next += slotsFor(id);
        }
        // distinct random-ish values in every register, then a bit-exact v23 round trip
        for (const [i, id] of a.cpregIndexes.entries()) {
          const bits = BigInt(Math.min(64, 8 << Number((id >> 52n) & 0xfn))) * BigInt(slotsFor(id));
          writeValueAt(a, i, ((BigInt(i) * 0x9e3779b97f4a7c15n) ^ (1n << (bits - 1n))) & ((1n << bits) - 1n));
        }
        const blob = encodeV23(a);
        expect(blob.length).toBe(8 + 12 * n + 8 * a.cpregValues.length);
        const back = decodeV23(blob);
        expect(Buffer.from(encodeV23(back)).equals(Buffer.from(blob))).toBe(true);
        for (let i = 0; i < n; i++) expect(readValueAt(back, i)).toBe(readValueAt(a, i));
        // v22 cannot carry them: refused, naming every one of the three wide registers
        expect(() => encodeV22(a)).toThrow(
          expect.objectContaining({ kind: 'not-representable', registers: [fw(4, 0x102), fw(5, 0x103), fw(8, 0x104)] }),
        );
      });
    });
  });
});

describe('indexesIn: every id where indexOfReg finds it', () => {
  const list = BigUint64Array.from([
    ...new Set(Array.from({ length: 300 }, (_, i) => 0x6030000000130000n + BigInt(i * 3))),
  ]);
  const a = layoutArrays(list);
  it('for ids in any order, in the list or not, few or many', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 905 }), { maxLength: 400 }), fc.boolean(), (offsets, sorted) => {
        const ids = offsets.map((o) => 0x6030000000130000n + BigInt(o));
        if (sorted) ids.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
        const at = indexesIn(a, ids);
        expect(Array.from(at)).toEqual(ids.map((id) => indexOfReg(a, id)));
        expect(indexesIn(a, ids)).toBe(at); // remembered per ids array and list
        const other = layoutArrays(list.slice());
        expect(Array.from(indexesIn(other, ids))).toEqual(Array.from(at)); // another list: looked up again
      }),
    );
  });
});
