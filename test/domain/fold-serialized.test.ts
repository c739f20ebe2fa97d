import fc from 'fast-check';
import {
  decide,
  diffStates,
  foldEvents,
  foldSerialized,
  serializeEvent,
  type VcpuCommand,
  type VcpuEvent,
  type VcpuState,
} from '../../domain/vcpu';

const IDS = [
  0x603000000013de82n,
  0x603000000013c080n,
  0x6020000000110000n,
  0x6000000000140101n,
  0x6080000000140100n,
  0x6040000000140102n,
];
/** JSON with sorted keys, as the store keeps event data (storage/canonical.ts). */
const sortedJson = (x: unknown): string =>
  Array.isArray(x)
    ? `[${x.map(sortedJson).join(',')}]`
    : x && typeof x === 'object'
      ? `{${Object.keys(x)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${sortedJson((x as Record<string, unknown>)[k])}`)
          .join(',')}}`
      : JSON.stringify(x);
const asStored = (e: VcpuEvent, i = 0, json: (x: unknown) => string = sortedJson) => {
  const s = serializeEvent(e);
  return [i + 1, s.type, s.schemaVersion, json(s.data)] as const;
};
const width = (id: bigint) => 8n * (1n << ((id >> 52n) & 0xfn));

/** A random history: commands decided one after the other (refused ones are skipped). */
const arbHistory = fc.array(
  fc.oneof(
    fc.record({
      type: fc.constant('WriteRegisters' as const),
      values: fc.array(fc.tuple(fc.constantFrom(...IDS), fc.bigInt({ min: 0n, max: (1n << 2048n) - 1n })), {
        minLength: 1,
        maxLength: 4,
      }),
    }),
    fc.record({
      type: fc.constant('SyncFromAccelerator' as const),
      values: fc.array(fc.tuple(fc.constantFrom(...IDS), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), {
        minLength: 1,
        maxLength: 3,
      }),
      failed: fc.array(fc.constantFrom(...IDS), { maxLength: 2 }),
    }),
    fc.constant({ type: 'SyncToAccelerator' as const }),
    fc.constant({ type: 'RecordExport' as const, format: 'v23' as const, sha256: 'a'.repeat(64), byteLength: 1 }),
  ),
  { maxLength: 30 },
);

test('foldSerialized gives exactly the state of foldEvents over the deserialized events', () => {
  fc.assert(
    fc.property(arbHistory, (commands) => {
      let state: VcpuState | undefined;
      const events: VcpuEvent[] = [];
      for (const c of [
        { type: 'CreateVcpu', accelerator: 'kvm', registers: IDS } as VcpuCommand,
        ...(commands as VcpuCommand[]),
      ]) {
        const fitted =
          'values' in c && c.type !== 'CreateVcpu'
            ? {
                ...c,
                values: (c.values as [bigint, bigint][]).map(([id, v]) => [id, v & ((1n << width(id)) - 1n)] as const),
              }
            : c;
        try {
          const out = decide(fitted as VcpuCommand, state);
          events.push(...out);
          state = foldEvents(state, out);
        } catch {
          /* refused (e.g. a register both read and failed): not in the history */
        }
      }
      const fast = foldSerialized(
        undefined,
        events.map((e, i) => asStored(e, i)),
      )!;
      expect(diffStates(fast, state!)).toEqual([]);
      expect(fast.lastSyncFailed).toEqual(state!.lastSyncFailed);
      // the same events in another key order take the general path, to the same state
      const general = foldSerialized(
        undefined,
        events.map((e, i) => asStored(e, i, JSON.stringify)),
      )!;
      expect(diffStates(general, state!)).toEqual([]);
      expect(general.lastSyncFailed).toEqual(state!.lastSyncFailed);
      // and from a middle state, without touching it
      const half = Math.max(1, Math.floor(events.length / 2)); // at least the creation
      const mid = foldEvents(undefined, events.slice(0, half))!;
      const before = JSON.stringify(Array.from(mid.arrays.cpregValues, String));
      expect(
        diffStates(
          foldSerialized(
            mid,
            events.slice(half).map((e, i) => asStored(e, i)),
          )!,
          state!,
        ),
      ).toEqual([]);
      expect(JSON.stringify(Array.from(mid.arrays.cpregValues, String))).toBe(before);
    }),
    { numRuns: 200 },
  );
});

test('a stored event that does not fold is refused, not guessed', () => {
  const created = decide({ type: 'CreateVcpu', accelerator: 'kvm', registers: IDS }, undefined).map((e) => asStored(e));
  const bad = (dataJson: string) => () =>
    foldSerialized(undefined, [...created, [2, 'RegistersWritten', 1, dataJson] as const]);
  expect(bad('{"ids":["0x603000000013ffff"],"values":["0x1"]}')).toThrow(/not in the list/);
  // A 32-bit register's slot is QEMU's raw 64-bit field (QEMU 10.0 fills upper bits): only more than 64 bits is wider.
  expect(bad('{"ids":["0x6020000000110000"],"values":["0x10000000000000000"]}')).toThrow(/wider/);
  expect(bad('{"ids":["0x603000000013de82"],"values":["12"]}')).toThrow(/not valid/);
  expect(bad('{"ids":')).toThrow(/not JSON/);
  expect(() => foldSerialized(undefined, [[1, 'RegistersWritten', 1, '{}'] as const])).toThrow(/before VcpuCreated/);
  const [, type, , data] = created[0]!; // decide answers one VcpuCreated
  expect(() => foldSerialized(undefined, [[1, type, 2, data] as const])).toThrow(/schema version/);
});

test('register writes in any valid JSON shape fold the same (the fast scanner falls back to JSON.parse)', () => {
  const created = decide({ type: 'CreateVcpu', accelerator: 'kvm', registers: IDS }, undefined).map((e) => asStored(e));
  const fold = (dataJson: string) =>
    foldSerialized(undefined, [...created, [2, 'RegistersWritten', 1, dataJson] as const])!;
  const canonical = fold(
    '{"ids":["0x603000000013c080","0x603000000013de82"],"values":["0x0000000000000007","0x00000000000000ff"]}',
  );
  for (const other of [
    '{"values":["0x0000000000000007","0x00000000000000ff"],"ids":["0x603000000013c080","0x603000000013de82"]}',
    '{ "ids": ["0x603000000013c080", "0x603000000013de82"], "values": ["0x7", "0xff"] }',
    '{"ids":["0x603000000013c080","0x603000000013de82"],"values":["0x0000000000000007","0x00000000000000ff"],"note":"x"}',
  ]) {
    expect(diffStates(fold(other), canonical)).toEqual([]);
  }
  expect(() => fold('{"ids":["0x603000000013de82\\u0022"],"values":["0x1"]}')).toThrow(/not in the list/);
});
