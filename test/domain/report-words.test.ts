import fc from 'fast-check';
import { readValueAt, slotsFor, writeValueAt } from '../../domain/cpreg-arrays';
import { decide, foldEvents, type RegAssignment, type VcpuCommand, type VcpuState } from '../../domain/vcpu';
import { registerName } from '../../domain/names';
import { kvmList } from '../helpers/kvm-list';

/**
 * Given a vCPU, when a sync reports its values as 32-bit words (ReportWords, what a plain body
 * parses to), then the decision is exactly that of the same report as [id, value] pairs: the
 * event (changed values, count, digest, failed) or the refusal (kind, registers, message).
 */
const FW_U2048 = 0x6080000000140100n;
const FW_U8 = 0x6000000000140101n;
const UNKNOWN = 0x603000000013ff7fn;
const { ids: kernel } = kvmList();
const create: VcpuCommand = { type: 'CreateVcpu', accelerator: 'kvm', registers: [...kernel, FW_U2048, FW_U8] };
const base = foldEvents(undefined, decide(create, undefined))!;
const list = Array.from(base.arrays.cpregIndexes);
const M64 = (1n << 64n) - 1n;

/** A state whose registers hold some values (wide ones with upper limbs set or not). */
function stateWith(values: ReadonlyArray<[number, bigint]>): VcpuState {
  const arrays = { ...base.arrays, cpregValues: base.arrays.cpregValues.slice() };
  for (const [i, v] of values) {
    const k = i % list.length;
    writeValueAt(arrays, k, v & ((1n << BigInt(64 * slotsFor(list[k]!))) - 1n));
  }
  return { ...base, arrays };
}

function toWords(pairs: ReadonlyArray<readonly [bigint, bigint]>) {
  const words = new Uint32Array(4 * pairs.length);
  pairs.forEach(([id, v], k) => {
    words.set([Number(id >> 32n), Number(id & 0xffffffffn), Number(v >> 32n), Number(v & 0xffffffffn)], 4 * k);
  });
  return { kind: 'words' as const, n: pairs.length, words };
}

function outcome(f: () => unknown) {
  try {
    return { events: f() };
  } catch (e) {
    const d = e as { kind?: string; registers?: unknown; message?: string };
    return { error: { kind: d.kind, registers: d.registers, message: d.message } };
  }
}

const arbId = fc.oneof(
  { weight: 8, arbitrary: fc.nat(list.length - 1).map((i) => list[i]!) },
  { weight: 1, arbitrary: fc.constantFrom(FW_U2048, FW_U8, UNKNOWN) },
);

/** A register index, the wide ones often (their upper limbs are what a words report lacks). */
const arbIndex = fc.oneof(fc.nat(), fc.constantFrom(list.indexOf(FW_U2048), list.indexOf(FW_U8)));

test('a report as words is decided exactly as the same report as pairs', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(arbIndex, fc.bigInt({ min: 0n, max: (1n << 130n) - 1n })), { maxLength: 12 }),
      fc.array(fc.tuple(arbId, fc.bigInt({ min: 0n, max: M64 }), fc.boolean()), { maxLength: 40 }),
      fc.array(arbId, { maxLength: 3 }),
      fc.boolean(),
      (held, report, failed, sorted) => {
        const state = stateWith(held);
        // a value as held (unchanged) or as drawn; ascending when `sorted` (what an agent sends)
        let pairs: Array<readonly [bigint, bigint]> = report.map(([id, v, keep]) => {
          const i = list.indexOf(id);
          return [id, keep && i >= 0 ? readValueAt(state.arrays, i) & M64 : v] as const;
        });
        if (sorted) pairs = [...new Map(pairs.map((p) => [p[0], p])).values()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
        const asPairs: VcpuCommand = { type: 'SyncFromAccelerator', values: pairs as RegAssignment[], failed };
        const asWords: VcpuCommand = { type: 'SyncFromAccelerator', values: toWords(pairs), failed };
        expect(outcome(() => decide(asWords, state))).toEqual(outcome(() => decide(asPairs, state)));
      },
    ),
    { numRuns: 1500 },
  );
});

test('given a whole list reported with 3 values changed, the event holds those 3 and the digest of every value', () => {
  const state = stateWith([]);
  const ids = list.filter((id) => id !== FW_U2048).slice(0, 300);
  const pairs = ids.map((id, k) => [id, k % 100 === 7 ? 0x1234n + BigInt(k) : 0n] as const);
  const [e] = decide({ type: 'SyncFromAccelerator', values: toWords(pairs) }, state);
  expect(e).toMatchObject({ type: 'SyncedFromAccelerator', reported: ids.length });
  const changed = (e as unknown as { changed: { ids: bigint[] } }).changed.ids;
  expect(ids.length).toBeGreaterThan(150);
  expect(changed).toEqual(ids.filter((_, k) => k % 100 === 7));
  const [p] = decide({ type: 'SyncFromAccelerator', values: pairs }, state);
  expect((e as unknown as { reportSha256: string }).reportSha256).toBe(
    (p as unknown as { reportSha256: string }).reportSha256,
  );
});

test('a report as words that names some registers is decided exactly as the same report as pairs with those names', () => {
  const nameOf = (id: bigint) => registerName(id, 'kvm');
  let ok = 0;
  fc.assert(
    fc.property(
      fc.array(fc.tuple(arbIndex, fc.bigInt({ min: 0n, max: (1n << 130n) - 1n })), { maxLength: 6 }),
      fc.array(
        fc.tuple(arbId, fc.bigInt({ min: 0n, max: M64 }), fc.constantFrom('id', 'name', 'name', 'lower', 'unknown')),
        { minLength: 1, maxLength: 40 },
      ),
      fc.array(arbId, { maxLength: 2 }),
      (held, report, failed) => {
        const state = stateWith(held);
        const refs = report.map(([id, , how]) =>
          how === 'id'
            ? id
            : how === 'unknown'
              ? 'NO_SUCH_REGISTER'
              : how === 'lower'
                ? nameOf(id).toLowerCase()
                : nameOf(id),
        );
        const pairs = report.map(([, v], k) => [refs[k]!, v] as const);
        const words = toWords(report.map(([id, v], k) => [typeof refs[k] === 'string' ? 0n : id, v] as const));
        const names = refs.map((r) => (typeof r === 'string' ? r : undefined));
        const asPairs: VcpuCommand = { type: 'SyncFromAccelerator', values: pairs as RegAssignment[], failed };
        const asWords: VcpuCommand = { type: 'SyncFromAccelerator', values: { ...words, names }, failed };
        const decided = outcome(() => decide(asWords, state));
        if ('events' in decided) ok++;
        expect(decided).toEqual(outcome(() => decide(asPairs, state)));
        // deciding again (a retry) gives the same: the command's words are not changed
        expect(outcome(() => decide(asWords, state))).toEqual(outcome(() => decide(asPairs, state)));
      },
    ),
    { numRuns: 1500 },
  );
  expect(ok).toBeGreaterThan(300); // decided, not only refused
});
