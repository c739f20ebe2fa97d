import fc from 'fast-check';
import { formatValue, valueTextRoom, writeValueText } from '../../domain/values';

const ascii = (b: Uint8Array) => String.fromCharCode(...b);
// every size a register id can carry (U8 .. U2048), and the size fields no register has (9 .. 15)
const regId = fc.integer({ min: 0, max: 15 }).map((size) => 0x6000000000130000n | (BigInt(size) << 52n));

describe('writeValueText', () => {
  test('writes the ASCII of formatValue for every value of up to 64 bits, and no byte beyond it', () => {
    fc.assert(
      fc.property(
        regId,
        fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: 0xffffn })),
        fc.nat(7),
        (id, value, at) => {
          const out = new Uint8Array(at + valueTextRoom(id) + 1).fill(0xee);
          const end = writeValueText(out, at, id, value);
          expect(ascii(out.subarray(at, end))).toBe(formatValue(id, value));
          expect(end).toBeLessThanOrEqual(at + valueTextRoom(id));
          expect(out.subarray(0, at).every((b) => b === 0xee)).toBe(true);
          expect(out.subarray(end).every((b) => b === 0xee)).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('the edges of the words: 0, one digit, 32 and 64 bits, a narrow register given a slot-wide value', () => {
    const u32 = 0x4020000000000000n; // an AArch32 U32 view
    const u64 = 0x6030000000130000n;
    for (const [id, v] of [
      [u64, 0n],
      [u64, 1n],
      [u64, 0xffffffffn],
      [u64, 0x100000000n],
      [u64, (1n << 64n) - 1n],
      [u32, 0x49444c004n], // QEMU 10.0's CTR view: shown as its 16-digit slot
      [u32, 7n],
    ] as const) {
      const out = new Uint8Array(valueTextRoom(id));
      expect(ascii(out.subarray(0, writeValueText(out, 0, id, v)))).toBe(formatValue(id, v));
    }
  });

  test('a value wider than a slot is written as formatValue writes it', () => {
    const u128 = 0x6040000000130000n;
    const v = (1n << 100n) + 5n;
    const out = new Uint8Array(64);
    expect(ascii(out.subarray(0, writeValueText(out, 0, u128, v)))).toBe(formatValue(u128, v));
  });
});
