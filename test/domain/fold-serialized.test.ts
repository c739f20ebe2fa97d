import fc from 'fast-check';
import {
  CorruptHistoryError,
  decide,
  deserializeEvent,
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

/** A vCPU created with IDS, then the commands decided one after the other (refused ones skipped). */
function historyOf(commands: readonly VcpuCommand[]): { events: VcpuEvent[]; state: VcpuState | undefined } {
  let state: VcpuState | undefined;
  const events: VcpuEvent[] = [];
  for (const c of [{ type: 'CreateVcpu', accelerator: 'kvm', registers: IDS } as VcpuCommand, ...commands]) {
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
  return { events, state };
}

test('foldSerialized gives exactly the state of foldEvents over the deserialized events', () => {
  fc.assert(
    fc.property(arbHistory, (commands) => {
      const { events, state } = historyOf(commands as VcpuCommand[]);
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

/**
 * Syncs record what changed (schema 2), and the fold of that is the fold of the whole report
 * (schema 1, what was stored before): the same state at every version, through both folds.
 */
test('a delta sync folds exactly as the full report it replaces, at every version', () => {
  const slot = (id: bigint) => (1n << (64n * (width(id) > 64n ? width(id) / 64n : 1n))) - 1n;
  const arbSync = fc.record({
    type: fc.constant('SyncFromAccelerator' as const),
    // undefined: report the value the register holds already (most of a real sync)
    values: fc.uniqueArray(
      fc.tuple(fc.constantFrom(...IDS), fc.option(fc.bigInt({ min: 0n, max: (1n << 2048n) - 1n }))),
      {
        selector: ([id]) => id,
        maxLength: IDS.length,
      },
    ),
    failed: fc.array(fc.constantFrom(...IDS), { maxLength: 2 }),
  });
  const arbWrite = fc.record({
    type: fc.constant('WriteRegisters' as const),
    values: fc.array(fc.tuple(fc.constantFrom(...IDS), fc.bigInt({ min: 0n, max: (1n << 2048n) - 1n })), {
      minLength: 1,
      maxLength: 3,
    }),
  });
  fc.assert(
    fc.property(fc.array(fc.oneof(arbSync, arbSync, arbWrite), { minLength: 1, maxLength: 25 }), (commands) => {
      let state = foldEvents(undefined, decide({ type: 'CreateVcpu', accelerator: 'kvm', registers: IDS }, undefined))!;
      const delta: (readonly [number, string, number, string])[] = [];
      const full: (readonly [number, string, number, string])[] = [];
      const created = asStored(decide({ type: 'CreateVcpu', accelerator: 'kvm', registers: IDS }, undefined)[0]!);
      delta.push(created);
      full.push(created);
      const states = [state];
      for (const c of commands) {
        const current = (id: bigint) => readValue(state, id);
        const command: VcpuCommand =
          c.type === 'SyncFromAccelerator'
            ? {
                ...c,
                values: c.values.map(([id, v]) => [id, v === null ? current(id) : v & slot(id)] as const),
              }
            : {
                ...c,
                values: c.values.map(([id, v]) => [id, v & ((1n << width(id)) - 1n)] as const),
              };
        let out: VcpuEvent[];
        try {
          out = decide(command, state);
        } catch {
          continue; // refused: not in the history
        }
        const e = out[0]!;
        const version = delta.length + 1;
        delta.push(asStored(e, version - 1));
        if (e.type === 'SyncedFromAccelerator') {
          // the report as schema 1 stored it: every value, ascending
          const report = [...(command as { values: readonly (readonly [bigint, bigint])[] }).values].sort((a, b) =>
            a[0] < b[0] ? -1 : 1,
          );
          const v1 = {
            failed: e.failed.map(hexId),
            ids: report.map(([id]) => hexId(id)),
            values: report.map(([id, v]) => '0x' + v.toString(16).padStart(Math.min(Number(width(id)) / 4, 512), '0')),
          };
          full.push([version, e.type, 1, sortedJson(v1)] as const);
          // only what changed is stored; the count and digest are the whole report's
          const old = deserializeEvent(e.type, 1, v1) as Extract<VcpuEvent, { type: 'SyncedFromAccelerator' }>;
          expect(e.reported).toBe(report.length);
          expect(old.reported).toBe(report.length);
          expect(old.reportSha256).toBe(e.reportSha256);
          expect(e.changed.ids).toEqual(report.filter(([id, v]) => current(id) !== v).map(([id]) => id));
        } else full.push(asStored(e, version - 1));
        state = foldEvents(state, out)!;
        states.push(state);
      }
      // time travel: every prefix, both schemas, both folds
      for (let n = 1; n <= delta.length; n++) {
        const want = states[n - 1]!;
        for (const rows of [delta, full]) {
          const fast = foldSerialized(undefined, rows.slice(0, n))!;
          expect(diffStates(fast, want)).toEqual([]);
          expect(fast.lastSyncFailed).toEqual(want.lastSyncFailed);
          const general = foldEvents(
            undefined,
            rows.slice(0, n).map(([, type, v, data]) => deserializeEvent(type, v, JSON.parse(data))),
          )!;
          expect(diffStates(general, want)).toEqual([]);
          expect(general.lastSyncFailed).toEqual(want.lastSyncFailed);
        }
      }
    }),
    { numRuns: 150 },
  );
});

test('a schema-2 sync whose report fields are damaged is refused on both paths', () => {
  const created = decide({ type: 'CreateVcpu', accelerator: 'kvm', registers: IDS }, undefined).map((e) => asStored(e));
  const sha = 'ab'.repeat(32);
  const fold = (data: string, v = 2) =>
    foldSerialized(undefined, [...created, [2, 'SyncedFromAccelerator', v, data] as const])!;
  const ok = `{"failed":[],"ids":["0x603000000013de82"],"reportSha256":"${sha}","reported":3,"values":["0x0000000000000007"]}`;
  expect(readValue(fold(ok), 0x603000000013de82n)).toBe(7n);
  // the same in another key order (general path)
  expect(
    readValue(
      fold(`{"values":["0x7"],"ids":["0x603000000013de82"],"reported":3,"reportSha256":"${sha}","failed":[]}`),
      0x603000000013de82n,
    ),
  ).toBe(7n);
  for (const bad of [
    ok.replace('"reported":3', '"reported":0'), // fewer reported than changed
    ok.replace(sha, 'AB'.repeat(32)),
    ok.replace(sha, 'ab'),
    ok.replace('"reported":3', '"reported":"3"'),
    ok.replace(`"reportSha256":"${sha}",`, ''),
  ])
    expect(() => fold(bad)).toThrow(CorruptHistoryError);
  // schema 1 never had report fields, and other types have no schema 2
  expect(() => fold('{"ids":["0x603000000013de82"],"values":["0x1"]}', 3)).toThrow(/schema version/);
  expect(() =>
    foldSerialized(undefined, [...created, [2, 'RegistersWritten', 2, '{"ids":[],"values":[]}'] as const]),
  ).toThrow(/schema version/);
});

const hexId = (id: bigint) => '0x' + id.toString(16).padStart(16, '0');
function readValue(s: VcpuState, id: bigint): bigint {
  const i = s.arrays.cpregIndexes.indexOf(id);
  const first = s.arrays.cpregValueIndexes[i]!;
  const n = width(id) > 64n ? Number(width(id) / 64n) : 1;
  let v = 0n;
  for (let j = n - 1; j >= 0; j--) v = (v << 64n) | s.arrays.cpregValues[first + j]!;
  return v;
}

test('an event written as text (dataText) is exactly the canonical JSON of its data', () => {
  fc.assert(
    fc.property(arbHistory, (commands) => {
      for (const e of historyOf(commands as VcpuCommand[]).events) {
        const s = serializeEvent(e);
        if (e.type === 'RegistersWritten' || e.type === 'SyncedFromAccelerator')
          expect(s.dataText).toBe(sortedJson(s.data));
        else expect(s.dataText).toBeUndefined();
      }
    }),
  );
});
