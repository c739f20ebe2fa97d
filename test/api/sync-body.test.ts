import fc from 'fast-check';
import { quickSyncFrom } from '../../api/routes/syncs';
import { assignments, regRef } from '../../api/reg-refs';
import { parseBody, syncBody } from '../../api/schemas';

/** What the schema's path makes of a body: the command, or the error it throws. */
function viaSchema(body: unknown) {
  try {
    const b = parseBody(syncBody, body);
    if (b.direction !== 'from-accelerator') return { other: true };
    return { values: assignments(b.values), failed: (b.failed ?? []).map(regRef) };
  } catch (e) {
    return { error: String(e) };
  }
}
function viaQuick(body: unknown) {
  try {
    const c = quickSyncFrom(body);
    return c ? { values: c.values, failed: c.failed } : undefined;
  } catch (e) {
    return { error: String(e) };
  }
}

const ids = ['0x603000000013de82', '0x603000000013c080', '0x6020000000110000', '0x6030000000100000'];
const arbKey = fc.oneof(
  fc.constantFrom(
    ...ids,
    'TPIDR_EL0',
    '0x603000000013DE82',
    '0X603000000013de82',
    '0x1',
    '0x7030000000130000',
    '__proto__',
    '',
  ),
  fc.string({ maxLength: 130 }),
);
const arbValue = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 80n) - 1n }).map((v) => '0x' + v.toString(16)),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => '0x' + v.toString(16).toUpperCase().padStart(16, '0')),
  fc.constantFrom('0x', '0X1', '12', '0x-1', '0x' + 'f'.repeat(601)),
  fc.anything(),
);

test('the quick path of a sync body makes exactly the command of the schema path, or defers to it', () => {
  fc.assert(
    fc.property(
      fc.dictionary(arbKey, arbValue, { maxKeys: 6 }),
      fc.option(fc.array(fc.oneof(arbKey, fc.anything()), { maxLength: 3 }), { nil: undefined }),
      fc.constantFrom('from-accelerator', 'to-accelerator', 'x'),
      fc.option(fc.dictionary(fc.string(), fc.anything(), { maxKeys: 1 }), { nil: undefined }),
      (values, failed, direction, extra) => {
        const body: Record<string, unknown> = {
          direction,
          values,
          ...(failed === undefined ? {} : { failed }),
          ...extra,
        };
        const quick = viaQuick(JSON.parse(JSON.stringify(body)));
        if (quick === undefined) return; // deferred: the schema path answers
        expect(quick).toEqual(viaSchema(JSON.parse(JSON.stringify(body))));
      },
    ),
    { numRuns: 3000 },
  );
  // bodies the quick path takes (most of them), ids malformed or not, values of any width
  let taken = 0;
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.constantFrom(...ids, 'TPIDR_EL0', '0x603000000013DE82', '0x1', '0x7030000000130000', '0x6030000000130000a'),
        fc.oneof(
          fc.bigInt({ min: 0n, max: (1n << 80n) - 1n }).map((v) => '0x' + v.toString(16)),
          fc
            .bigInt({ min: 0n, max: (1n << 64n) - 1n })
            .map((v) => '0x' + v.toString(16).toUpperCase().padStart(16, '0')),
        ),
        { maxKeys: 5 },
      ),
      fc.array(fc.constantFrom(...ids, 'SCTLR_EL1', '0x1'), { maxLength: 2 }),
      (values, failed) => {
        const body = { direction: 'from-accelerator', values, failed };
        const quick = viaQuick(body);
        if (quick !== undefined) taken++;
        expect(quick ?? viaSchema(body)).toEqual(viaSchema(body));
      },
    ),
    { numRuns: 2000 },
  );
  expect(taken).toBeGreaterThan(1900);
  // a plain valid body does take the quick path
  expect(viaQuick({ direction: 'from-accelerator', values: { [ids[0]!]: '0xAb', TPIDR_EL0: '0x1' } })).toEqual({
    values: [
      [0x603000000013de82n, 0xabn],
      ['TPIDR_EL0', 1n],
    ],
    failed: [],
  });
});
