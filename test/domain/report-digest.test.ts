import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { reportBytes, reportSha256 } from '../../domain/vcpu/report-digest';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const U32 = 0x6020000000110000n;
const U64 = 0x603000000013de82n;
const U128 = 0x6040000000140102n;
const U2048 = 0x6080000000140100n;

test('the bytes of a report: id, then the value in its slots, big-endian, in the order given', () => {
  const rv = { ids: [U32, U64, U128], values: [0x1_0000_0002n, 0xabn, (5n << 64n) | 6n] };
  expect(Buffer.from(reportBytes(rv)).toString('hex')).toBe(
    '6020000000110000' +
      '0000000100000002' +
      '603000000013de82' +
      '00000000000000ab' +
      '6040000000140102' +
      '0000000000000005' +
      '0000000000000006',
  );
  expect(reportSha256(rv)).toBe(sha(reportBytes(rv)));
  expect(reportSha256({ ids: [], values: [] })).toBe(sha(new Uint8Array(0)));
  // a 2048-bit register takes 32 slots, most significant first
  const wide = { ids: [U2048], values: [1n << 2047n] };
  expect(reportBytes(wide).length).toBe(8 + 256);
  expect(reportBytes(wide)[8]).toBe(0x80);
});

test('reportSha256 is SHA-256 of reportBytes for any report (every padding length)', () => {
  const ids = [U32, U64, U128, U2048];
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom(...ids), fc.bigInt({ min: 0n, max: (1n << 2048n) - 1n })), { maxLength: 80 }),
      (pairs) => {
        const rv = {
          ids: pairs.map(([id]) => id),
          values: pairs.map(([id, v]) => v & ((1n << BigInt(64 * (id === U2048 ? 32 : id === U128 ? 2 : 1))) - 1n)),
        };
        expect(reportSha256(rv)).toBe(sha(reportBytes(rv)));
      },
    ),
    { numRuns: 300 },
  );
});
