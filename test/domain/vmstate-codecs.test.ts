import fc from 'fast-check';
import { layoutArrays, readValueAt, slotsFor, type CpregArrays } from '../../domain/cpreg-arrays';
import { DomainError } from '../../domain/errors';
import { convertBlob, decodeBlob, encodeBlob, type BlobFormat } from '../../domain/vmstate/format';
import { decodeV22, encodeV22 } from '../../domain/vmstate/v22';
import { decodeV23, encodeV23 } from '../../domain/vmstate/v23';
import { formatValue } from '../../domain/values';
import { arbArrays, arbId } from '../helpers/arbitraries';

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

function sameArrays(a: CpregArrays, b: CpregArrays): boolean {
  if (a.cpregIndexes.length !== b.cpregIndexes.length) return false;
  for (let i = 0; i < a.cpregIndexes.length; i++) {
    if (a.cpregIndexes[i] !== b.cpregIndexes[i] || readValueAt(a, i) !== readValueAt(b, i)) return false;
  }
  return true;
}

/** Decoding a corrupted blob is either refused by the domain or gives bytes that re-encode exactly. */
function refusedOrExact(format: BlobFormat, bytes: Uint8Array): void {
  let decoded: CpregArrays;
  try {
    decoded = decodeBlob(format, bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(DomainError);
    expect((e as DomainError).kind).toBe('malformed-blob');
    return;
  }
  expect(same(encodeBlob(format, decoded), bytes)).toBe(true);
}

describe.each<[BlobFormat, number]>([
  ['v22', 3],
  ['v23', 8],
])('%s codec', (format, maxSize) => {
  test('encode then decode gives the same registers and values; decode then encode the same bytes', () => {
    fc.assert(
      fc.property(arbArrays(maxSize), (a) => {
        const blob = encodeBlob(format, a);
        const back = decodeBlob(format, blob);
        expect(sameArrays(a, back)).toBe(true);
        expect(same(encodeBlob(format, back), blob)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  test('every truncation and every extension is refused', () => {
    fc.assert(
      fc.property(arbArrays(maxSize, 12), fc.uint8Array({ minLength: 1, maxLength: 24 }), (a, tail) => {
        const blob = encodeBlob(format, a);
        for (let len = 0; len < blob.length; len++) {
          expect(() => decodeBlob(format, blob.subarray(0, len))).toThrow(DomainError);
        }
        const longer = new Uint8Array(blob.length + tail.length);
        longer.set(blob);
        longer.set(tail, blob.length);
        expect(() => decodeBlob(format, longer)).toThrow(DomainError);
      }),
      { numRuns: 30 },
    );
  });

  test('every single-bit corruption is refused or re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(arbArrays(maxSize, 10), (a) => {
        const blob = encodeBlob(format, a);
        for (let bit = 0; bit < blob.length * 8; bit++) {
          const bad = blob.slice();
          bad[bit >> 3] = bad[bit >> 3]! ^ (0x80 >> (bit & 7));
          refusedOrExact(format, bad);
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe('format conversion', () => {
  test('v22 → v23 → v22 is the identity', () => {
    fc.assert(
      fc.property(arbArrays(3), (a) => {
        const v22 = encodeV22(a);
        expect(same(convertBlob('v23', 'v22', convertBlob('v22', 'v23', v22)), v22)).toBe(true);
      }),
    );
  });

  test('v23 → v22 is refused when a register is wider than 8 bytes, naming it', () => {
    const a = decodeV23(
      encodeV23(
        decodeV23(
          hex(
            '00000002 00000003  6030000000140000 6040000000140001  0000000000000005 0000000000000006 0000000000000007  00000000 00000001',
          ),
        ),
      ),
    );
    expect(() => encodeV22(a)).toThrow(
      expect.objectContaining({ kind: 'not-representable', registers: [0x6040000000140001n] }),
    );
  });
});

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

describe('strict validation beyond QEMU (each refused with the offending registers)', () => {
  const v22 = (n: number, ids: string[], values: string[]) =>
    hex(n.toString(16).padStart(8, '0') + ids.join('') + values.join(''));

  test('a v22 blob of two registers decodes to QEMU-shaped arrays', () => {
    const a = decodeV22(v22(2, ['40200000200e0000', '603000000013de82'], ['000000003516d000', '1122334455667788']));
    expect(Array.from(a.cpregIndexes)).toEqual([0x40200000200e0000n, 0x603000000013de82n]);
    expect(Array.from(a.cpregValueIndexes)).toEqual([0, 1]);
    expect(Array.from(a.cpregValues)).toEqual([0x3516d000n, 0x1122334455667788n]);
  });

  test('unsorted ids', () => {
    expect(() => decodeV22(v22(2, ['603000000013de82', '40200000200e0000'], ['0'.repeat(16), '0'.repeat(16)]))).toThrow(
      expect.objectContaining({ kind: 'malformed-blob', registers: [0x40200000200e0000n] }),
    );
  });

  test('repeated ids', () => {
    expect(() => decodeV22(v22(2, ['603000000013de82', '603000000013de82'], ['0'.repeat(16), '0'.repeat(16)]))).toThrow(
      expect.objectContaining({ kind: 'malformed-blob', registers: [0x603000000013de82n] }),
    );
  });

  test('a v22 register wider than 8 bytes', () => {
    expect(() => decodeV22(v22(1, ['6040000000140000'], ['0'.repeat(16)]))).toThrow(
      expect.objectContaining({ kind: 'malformed-blob', registers: [0x6040000000140000n] }),
    );
  });

  test('negative count', () => {
    expect(() => decodeV22(hex('ffffffff'))).toThrow(expect.objectContaining({ kind: 'malformed-blob' }));
  });

  test('v23 value indexes that do not start at 0, disagree with sizes, or with M', () => {
    const ids = '6030000000140000 6040000000140001';
    const vals = '0000000000000005 0000000000000006 0000000000000007';
    expect(() => decodeV23(hex(`00000002 00000003 ${ids} ${vals} 00000001 00000002`))).toThrow(
      expect.objectContaining({ kind: 'malformed-blob' }),
    );
    expect(() => decodeV23(hex(`00000002 00000003 ${ids} ${vals} 00000000 00000002`))).toThrow(
      expect.objectContaining({ kind: 'malformed-blob', registers: [0x6040000000140001n] }),
    );
    expect(() => decodeV23(hex(`00000002 00000004 ${ids} ${vals} 0000000000000008 00000000 00000001`))).toThrow(
      expect.objectContaining({ kind: 'malformed-blob' }),
    );
    // and the same blob with right indexes decodes
    expect(decodeV23(hex(`00000002 00000003 ${ids} ${vals} 00000000 00000001`)).cpregValues.length).toBe(3);
  });

  test('the crafted blob that overflows the v23 patch (slot count from the sender) is refused', () => {
    // N=1 U64 register claiming value index 0 but M=1000 slots: the patch would memcpy 1000 slots
    const blob = hex('00000001 000003e8 603000000013de82' + '00'.repeat(8 * 1000) + '00000000');
    expect(() => decodeV23(blob)).toThrow(expect.objectContaining({ kind: 'malformed-blob' }));
  });
});

/**
 * Arrays whose slots are any 64-bit value, whatever the register's width: what QEMU holds (its
 * slot is a raw uint64_t field; QEMU 10.0 writes upper bits in the slots of 32-bit AArch32 views).
 */
function arbRawSlots(maxSizeField: number, maxLen = 40): fc.Arbitrary<CpregArrays> {
  return fc.uniqueArray(arbId(maxSizeField), { maxLength: maxLen }).chain((ids) => {
    const a = layoutArrays(BigUint64Array.from(ids).sort());
    return fc
      .array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), {
        minLength: a.cpregValues.length,
        maxLength: a.cpregValues.length,
      })
      .map((slots) => {
        slots.forEach((v, j) => (a.cpregValues[j] = v));
        return a;
      });
  });
}

describe('upper bits in the slot of a register narrower than 8 bytes are kept byte for byte', () => {
  // QEMU 10.0 -cpu cortex-a710: the AArch32 views of CTR and CLIDR (U32) carry 64-bit values.
  const CTR = 0x40200000200f0001n;
  const CLIDR = 0x40200000200f0009n;
  const real = v22hex(2, ['40200000200f0001', '40200000200f0009'], ['000000049444c004', '0000001482000023']);

  function v22hex(n: number, ids: string[], values: string[]): Uint8Array {
    return hex(n.toString(16).padStart(8, '0') + ids.join('') + values.join(''));
  }

  test("QEMU 10.0's CTR and CLIDR slots decode to their raw values and re-encode identically, v22 and v23", () => {
    const a = decodeV22(real);
    expect(readValueAt(a, 0)).toBe(0x49444c004n);
    expect(readValueAt(a, 1)).toBe(0x1482000023n);
    expect(same(encodeV22(a), real)).toBe(true);
    const v23 = convertBlob('v22', 'v23', real);
    expect(Array.from(decodeV23(v23).cpregValues)).toEqual([0x49444c004n, 0x1482000023n]);
    expect(same(convertBlob('v23', 'v22', v23), real)).toBe(true);
    // shown as QEMU holds it: the whole slot, not cut to the register's 8 digits
    expect(formatValue(CTR, 0x49444c004n)).toBe('0x000000049444c004');
    expect(formatValue(CLIDR, 0x1482000023n)).toBe('0x0000001482000023');
    expect(formatValue(CTR, 0x8444c004n)).toBe('0x8444c004');
  });

  test('U8 and U16 slots with any upper bits too', () => {
    const blob = v22hex(2, ['6000000000130001', '6010000000130002'], ['ffffffffffffff01', '8000000000000002']);
    const a = decodeV22(blob);
    expect(Array.from(a.cpregValues)).toEqual([0xffffffffffffff01n, 0x8000000000000002n]);
    expect(same(encodeV22(a), blob)).toBe(true);
  });

  test.each<[BlobFormat, number]>([
    ['v22', 3],
    ['v23', 8],
  ])('%s: any slot values decode and re-encode byte for byte (property)', (format, maxSize) => {
    fc.assert(
      fc.property(arbRawSlots(maxSize), (a) => {
        const blob = encodeBlob(format, a);
        const back = decodeBlob(format, blob);
        expect(Array.from(back.cpregValues)).toEqual(Array.from(a.cpregValues));
        expect(same(encodeBlob(format, back), blob)).toBe(true);
        for (let i = 0; i < back.cpregIndexes.length; i++) {
          if (slotsFor(back.cpregIndexes[i]!) === 1)
            expect(readValueAt(back, i)).toBe(a.cpregValues[a.cpregValueIndexes[i]!]);
        }
      }),
      { numRuns: 200 },
    );
  });

  test('v22 → v23 → v22 is the identity with any slot values (property)', () => {
    fc.assert(
      fc.property(arbRawSlots(3), (a) => {
        const v22 = encodeV22(a);
        expect(same(convertBlob('v23', 'v22', convertBlob('v22', 'v23', v22)), v22)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
