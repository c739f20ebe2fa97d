import fc from 'fast-check';
import { plainValueBody } from '../../api/plain-json';

/** Texts near `{"value": "…"}`: JSON whitespace, escapes, other keys, other types, trailing bytes. */
const often = (first: string, ...rest: string[]) =>
  fc.oneof({ weight: 2 * rest.length, arbitrary: fc.constant(first) }, fc.constantFrom(...rest));
const ws = often('', ' ', '\n', '\t', '\r\n ', '\u00a0', '\ufeff');
const piece = often('"value"', '"valu\\u0065"', '"Value"', '"value" ', '"x"', '1', '');
const val = fc.oneof(
  fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)),
  fc.constantFrom('"0x1"', '"0x\\u0031"', '"a\\"b"', '1', 'null', '{}', '["0x1"]', '"\u0001"', '"'),
);
const text = fc
  .tuple(
    ws,
    piece,
    ws,
    val,
    ws,
    fc.constantFrom('', ',"value":"0x2"', ',"x":1'),
    ws,
    fc.constantFrom('}', '', '}}', '} x'),
  )
  .map(([a, k, b, v, c, more, d, close]) => `${a}{${b}${k}${c}:${a}${v}${more}${d}${close}${b}`);

test('{"value": …} read from its text is exactly what JSON.parse reads, or left to it', () => {
  let taken = 0;
  fc.assert(
    fc.property(text, (t) => {
      const v = plainValueBody(t);
      if (v === undefined) return;
      taken++;
      expect(JSON.parse(t)).toEqual({ value: v });
    }),
    { numRuns: 5000 },
  );
  expect(taken).toBeGreaterThan(100);
  expect(plainValueBody('{"value":"0x1f"}')).toBe('0x1f');
  expect(plainValueBody(' {\n "value" : "0x1f" }\n')).toBe('0x1f');
  expect(plainValueBody('{"value":"0x1","value":"0x2"}')).toBeUndefined(); // JSON.parse keeps the last
  expect(plainValueBody('{"value":"0x\\u0031"}')).toBeUndefined();
});
