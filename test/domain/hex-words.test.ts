import fc from 'fast-check';
import { half, hex8, hexRun } from '../../domain/words';

const hexDigit = fc.constantFrom(...'0123456789abcdefABCDEF');
// texts of hex digits with, now and then, a character that is none (ASCII, or above 127)
const text = fc.array(
  fc.oneof({ weight: 8, arbitrary: hexDigit }, fc.constantFrom('g', '"', ' ', 'x', 'é', '٣', '\u0130')),
  {
    maxLength: 24,
  },
);

test('hex8 reads exactly 8 hex digits as their 32-bit value, and -1 for anything else', () => {
  fc.assert(
    fc.property(text, fc.nat(24), (chars, at) => {
      const t = chars.join('');
      const run = t.slice(at, at + 8);
      const want = run.length === 8 && /^[0-9a-fA-F]{8}$/.test(run) ? parseInt(run, 16) : -1;
      expect(hex8(t, at)).toBe(want);
    }),
    { numRuns: 3000 },
  );
});

test('two hex8 words are the id hexRun reads from the same 16 digits', () => {
  fc.assert(
    fc.property(fc.array(hexDigit, { minLength: 16, maxLength: 16 }), (chars) => {
      const t = chars.join('');
      expect(hexRun(t, 0, 16)).toBe(16);
      expect([hex8(t, 0), hex8(t, 8)]).toEqual([half.hi, half.lo]);
    }),
  );
});
