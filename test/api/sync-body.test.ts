import fc from 'fast-check';
import { quickSyncFrom, quickSyncFromText } from '../../api/sync-quick';
import { scanSyncText } from '../../api/sync-text';
import { assignments, regRef } from '../../api/reg-refs';
import { parseBody, syncBody } from '../../api/schemas';
import type { ReportWords, SyncFromAccelerator } from '../../domain/vcpu';

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

/** JSON text of a sync body in any legal layout, and texts near it that are not the plain shape. */
/** The first most of the time, the others now and then. */
const often = (first: string, ...rest: string[]) =>
  fc.oneof({ weight: 3 * rest.length, arbitrary: fc.constant(first) }, fc.constantFrom(...rest));
const ws = fc.constantFrom('', ' ', '\n', '\t', '\r\n  ');
const arbJsonString = fc.oneof(
  fc.constantFrom(...ids, 'TPIDR_EL0', '0x603000000013DE82', '0x1', '__proto__', '', '7', '0', 'from-accelerator'),
  fc.string({ maxLength: 20 }),
);
const quoted = (s: string, escapeAll: boolean) =>
  escapeAll && s.length
    ? '"' + [...s].map((c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')).join('') + '"'
    : JSON.stringify(s);
const arbMember = (key: fc.Arbitrary<string>, value: fc.Arbitrary<string>) =>
  fc
    .tuple(key, value, ws, ws, fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, fc.constant(true)))
    .map(([k, v, a, b, esc]) => `${a}${quoted(k, esc)}${b}:${a}${v}${b}`);
const arbValueText = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.bigInt({ min: 0n, max: (1n << 70n) - 1n }).map((v) => JSON.stringify('0x' + v.toString(16))),
  },
  { weight: 1, arbitrary: fc.constantFrom('12', 'null', '{}', '[]', '"0x1\\n"', 'true', '"0x\\u0031"') },
  { weight: 1, arbitrary: arbJsonString.map((s) => JSON.stringify(s)) },
);
const arbSyncText = fc
  .tuple(
    fc.array(arbMember(arbJsonString, arbValueText), { maxLength: 6 }),
    fc.option(
      fc.array(
        fc.tuple(arbJsonString, ws).map(([s, w]) => w + JSON.stringify(s) + w),
        { maxLength: 3 },
      ),
      {
        nil: undefined,
      },
    ),
    often('"from-accelerator"', '"to-accelerator"', '"from-\\u0061ccelerator"', '1'),
    often('', ',"x":1', ',"values":{}', ',"direction":"from-accelerator"'),
    fc.boolean(),
    ws,
    often('', ' ', 'x', '}', '\ufeff'),
  )
  .map(([members, failed, direction, extra, valuesFirst, w, tail]) => {
    const values = `"values"${w}:${w}{${members.join(',')}}`;
    const parts = [
      ...(valuesFirst ? [values, `"direction":${direction}`] : [`"direction":${direction}`, values]),
      ...(failed === undefined ? [] : [`"failed":[${failed.join(',')}]`]),
    ];
    return `${w}{${w}${parts.join(`${w},${w}`)}${extra}${w}}${tail}`;
  });

/** A command with its report as [id, value] pairs (ReportWords spelled out). */
function asPairs(c: SyncFromAccelerator | undefined): SyncFromAccelerator | undefined {
  if (!c || Array.isArray(c.values)) return c;
  const { n, words, names } = c.values as ReportWords;
  const big = (h: number, l: number) => (BigInt(h) << 32n) | BigInt(l);
  const values = Array.from({ length: n }, (_, k) => {
    if (names?.[k] !== undefined) expect([words[4 * k], words[4 * k + 1]]).toEqual([0, 0]); // a name's id words are 0
    return [names?.[k] ?? big(words[4 * k]!, words[4 * k + 1]!), big(words[4 * k + 2]!, words[4 * k + 3]!)] as const;
  });
  return { ...c, values };
}

function outcome<T>(f: () => T): T | { error: string } {
  try {
    return f();
  } catch (e) {
    return { error: String(e) };
  }
}

/**
 * Whether the text's quick path took the report (false: it defers); if it did, its command (or
 * refusal) is exactly JSON.parse's through the quick path.
 */
function readAsJsonParseWould(text: string): boolean {
  const fromText = outcome(() => asPairs(quickSyncFromText(text)));
  if (fromText === undefined) return false;
  expect(fromText).toEqual(outcome(() => asPairs(quickSyncFrom(JSON.parse(text)))));
  return true;
}

test('a sync read from its text is exactly the command of JSON.parse and the quick path, or defers', () => {
  let taken = 0;
  fc.assert(
    fc.property(arbSyncText, (text) => {
      const fromText = outcome(() => asPairs(quickSyncFromText(text)));
      if (fromText === undefined) return;
      taken++;
      // taken from the text: it is JSON, and the parsed body's quick path makes the same command
      expect(fromText).toEqual(outcome(() => quickSyncFrom(JSON.parse(text))));
    }),
    { numRuns: 5000 },
  );
  expect(taken).toBeGreaterThan(500);
  // the plain form an agent sends is read from its text
  const text = JSON.stringify({ direction: 'from-accelerator', values: { [ids[1]!]: '0x5', [ids[0]!]: '0xAb' } });
  expect(quickSyncFromText(text)?.values).toMatchObject({ kind: 'words', n: 2 }); // no bigint per value
  expect(asPairs(quickSyncFromText(text))).toEqual({
    type: 'SyncFromAccelerator',
    values: [
      [0x603000000013c080n, 5n],
      [0x603000000013de82n, 0xabn],
    ],
    failed: [],
  });
  // a repeated key is JSON.parse's to settle (the last value wins), not the scanner's
  expect(quickSyncFromText(`{"direction":"from-accelerator","values":{"${ids[0]}":"0x1","${ids[0]}":"0x2"}}`)).toBe(
    undefined,
  );
});

test("the scanner's word path (ids ascending, values of up to 16 digits) is the command of JSON.parse", () => {
  const hexCase = (s: string, upper: boolean) => (upper ? '0x' + s.slice(2).toUpperCase() : s);
  const arbId = fc.oneof(
    { weight: 8, arbitrary: fc.bigInt({ min: 0x6030000000130000n, max: 0x603000000013ffffn }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(0x4020000000200000n, 0x6010000000160000n, 0x7030000000130000n, 0x603000000013n),
    },
  );
  const arbVal = fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => '0x' + v.toString(16)),
    fc.constantFrom('0x', '0x' + '1'.repeat(17), '0x0000000000000000', '0xg', '0X1'),
  );
  let words = 0;
  let taken = 0;
  fc.assert(
    fc.property(
      fc.array(fc.tuple(arbId, arbVal, fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 8 }),
      fc.boolean(),
      ws,
      fc.option(fc.array(fc.constantFrom(...ids, 'SCTLR_EL1', '0x1'), { maxLength: 2 }), { nil: undefined }),
      (members, sort, w, failed) => {
        const list = sort ? [...members].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) : members;
        const text =
          `{${w}"direction":${w}"from-accelerator",${w}"values":${w}{` +
          list
            .map(
              ([id, v, upId, upV]) =>
                `${w}"${hexCase('0x' + id.toString(16).padStart(16, '0'), upId)}"${w}:${w}"${hexCase(v, upV)}"`,
            )
            .join(',') +
          `${w}}${failed === undefined ? '' : `,"failed":${JSON.stringify(failed)}`}}`;
        if (scanSyncText(text)?.words) words++;
        if (readAsJsonParseWould(text)) taken++;
      },
    ),
    { numRuns: 3000 },
  );
  expect(words).toBeGreaterThan(300);
  expect(taken).toBeGreaterThan(words);
});

test('a report that names registers (names and ids mixed, any order) is read as words and names, exactly the command of JSON.parse', () => {
  const names = [
    'TPIDR_EL0',
    'SCTLR_EL1',
    'DACR',
    'S3_3_C13_C0_2',
    'tpidr_el0',
    'NO_SUCH_REG',
    '7',
    '__proto__',
    '0X1',
    '0x1',
  ];
  const keys = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...names) },
    { weight: 2, arbitrary: fc.constantFrom(...ids) },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  );
  const vals = fc.oneof(
    { weight: 6, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => '0x' + v.toString(16)) },
    { weight: 1, arbitrary: fc.constantFrom('0x', '0x' + '1'.repeat(17), '0xAbC', '0X1', '0x1 ') },
  );
  let named = 0;
  let taken = 0;
  fc.assert(
    fc.property(fc.array(fc.tuple(keys, vals), { minLength: 1, maxLength: 8 }), ws, (members, w) => {
      const text =
        `{"direction":"from-accelerator",${w}"values":{` +
        members.map(([k, v]) => `${w}${JSON.stringify(k)}${w}:${w}${JSON.stringify(v)}`).join(',') +
        `}}`;
      const scanned = scanSyncText(text);
      if (scanned?.names) {
        named++;
        expect(scanned.names.some((x) => x !== undefined)).toBe(true);
        expect(new Set(members.map((m) => m[0])).size).toBe(members.length); // no key twice
      }
      if (readAsJsonParseWould(text)) taken++;
    }),
    { numRuns: 3000 },
  );
  expect(named).toBeGreaterThan(300);
  expect(taken).toBeGreaterThanOrEqual(named);
  // what an agent that names its registers sends: words and names, no pair per value
  const text = JSON.stringify({ direction: 'from-accelerator', values: { TPIDR_EL0: '0x5', [ids[0]!]: '0xab' } });
  expect(scanSyncText(text)).toMatchObject({ names: ['TPIDR_EL0', undefined] });
  expect(asPairs(quickSyncFromText(text))).toEqual({
    type: 'SyncFromAccelerator',
    values: [
      ['TPIDR_EL0', 5n],
      [0x603000000013de82n, 0xabn],
    ],
    failed: [],
  });
  // the same registers again and again (an agent's layout, read in place), then layouts near it
  const layout = ['TPIDR_EL0', ids[1]!, 'SCTLR_EL1', 'DACR'];
  const body = (keys: string[], v: number) =>
    `{"direction":"from-accelerator","values":{${keys.map((k, i) => `"${k}":"0x${(v + i).toString(16)}"`).join(',')}}}`;
  for (const keys of [
    layout,
    layout,
    layout.slice(0, 3),
    layout,
    [...layout, 'TPIDRRO_EL0'],
    layout,
    [...layout, 'DACR'],
    layout,
    ['TPIDR_EL0', ids[1]!, 'SCTLR_EL', 'DACR'],
    ['TPIDR_EL0', ids[1]!, 'SCTLR_EL1x', 'DACR'],
  ]) {
    for (const v of [1, 0x1234]) {
      const text = body(keys, v);
      expect(outcome(() => asPairs(quickSyncFromText(text)))).toEqual(
        new Set(keys).size === keys.length ? outcome(() => asPairs(quickSyncFrom(JSON.parse(text)))) : undefined,
      );
    }
  }
  // a repeated name is JSON.parse's to settle
  expect(scanSyncText('{"direction":"from-accelerator","values":{"DACR":"0x1","DACR":"0x2"}}')?.names).toBe(undefined);
});
