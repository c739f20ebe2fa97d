import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { answerOf } from '../../api/command';
import { findingView } from '../../api/finding-view';
import { changedSince, syncResult, syncResultBytes } from '../../api/routes/syncs';
import { namedValues } from '../../api/views';
import { writeAdvice } from '../../app/vcpu-compatibility';
import { formatRegId } from '../../domain/regid';
import { decide, foldEvents, type VcpuEvent, type VcpuState } from '../../domain/vcpu';
import { decodeV22 } from '../../domain/vmstate/v22';

// A real QEMU 7.2 `-cpu max` list (TCG): constants, kept bits and AArch32 views give warnings.
const FIXTURE = path.resolve(__dirname, '../fixtures/qemu/aarch64-max-smp2.cpu0.v22.bin');
const list = decodeV22(fs.readFileSync(FIXTURE));
const ids = [...list.cpregIndexes];
const created = foldEvents(undefined, decide({ type: 'CreateVcpu', accelerator: 'tcg', registers: ids }, undefined))!;

/** The answer as the object it was before it was written as text: JSON.stringify gives the contract's text. */
function asObject(e: Extract<VcpuEvent, { type: 'SyncedFromAccelerator' }>, state: typeof created, version: number) {
  return {
    id: 'cpu0',
    version,
    direction: 'from-accelerator',
    changed: namedValues(e.changed, state),
    reported: e.reported,
    reportSha256: e.reportSha256,
    failed: e.failed.map(formatRegId),
  };
}

/** Distinct registers of the list (by position) with a value each. */
const picks = (maxLength: number) =>
  fc.uniqueArray(fc.tuple(fc.nat(ids.length - 1), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), {
    selector: ([i]) => i,
    minLength: 1,
    maxLength,
  });

/** The report of those values: a 32-bit register's kept to its 32 bits. */
const reportOf = (picked: ReadonlyArray<readonly [number, bigint]>) =>
  picked.map(([i, v]) => [ids[i]!, ((ids[i]! >> 52n) & 0xfn) === 2n ? v & 0xffffffffn : v] as const);

test('a sync from the accelerator answers exactly the text of its SyncResult object, warnings last', () => {
  fc.assert(
    fc.property(picks(40), fc.boolean(), fc.option(fc.nat(ids.length - 1)), (picked, advised, failedAt) => {
      const values = reportOf(picked);
      const failed = failedAt === null || picked.some(([i]) => i === failedAt) ? [] : [ids[failedAt]!];
      const events = decide({ type: 'SyncFromAccelerator', values, failed }, created);
      const state = foldEvents(created, events)!;
      const warnings = writeAdvice(created, events);
      const decided = { streamId: 'cpu0', before: created, state, version: 2, events, warnings };
      const r = answerOf(syncResult, advised)([decided]);
      const e = events[0] as Extract<VcpuEvent, { type: 'SyncedFromAccelerator' }>;
      const body = advised
        ? { ...asObject(e, state, 2), warnings: warnings.map((f) => findingView(state, f)) }
        : asObject(e, state, 2);
      expect(r.text).toBe(JSON.stringify(body));
      expect(r.status).toBe(200);
      expect(r.headers).toEqual({ ETag: '"2"' });
    }),
    { numRuns: 60 },
  );
});

/** A vCPU made from the real block with its values (its QEMU's model applies: measured warnings). */
const fromBlob: VcpuState = foldEvents(
  undefined,
  decide({ type: 'CreateVcpuFromBlob', accelerator: 'tcg', format: 'v22', blob: fs.readFileSync(FIXTURE) }, undefined),
)!;

test("the fast lane's bytes of a sync's answer are the UTF-8 of its text, whatever the vCPU id and values", () => {
  fc.assert(
    fc.property(
      picks(300),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
      fc.boolean(),
      (picked, streamId, advised) => {
        const values = reportOf(picked);
        const events = decide({ type: 'SyncFromAccelerator', values, failed: [] }, fromBlob);
        const state = foldEvents(fromBlob, events)!;
        const warnings = writeAdvice(fromBlob, events);
        const decided = { streamId, before: fromBlob, state, version: 7, events, warnings };
        const text = answerOf(syncResult, advised)([decided]);
        const bytes = answerOf(syncResultBytes, advised)([decided]);
        expect(bytes.text).toBeUndefined();
        expect(Buffer.from(bytes.bytes!).equals(Buffer.from(text.text!, 'utf8'))).toBe(true);
        expect({ ...bytes, bytes: undefined }).toEqual({ ...text, text: undefined });
      },
    ),
    { numRuns: 60 },
  );
});

test('a sync to the accelerator answers the same body either way (it names what to write)', () => {
  const events = decide({ type: 'SyncToAccelerator', level: 'full' }, fromBlob);
  const decided = { streamId: 'cpu0', before: fromBlob, state: fromBlob, version: 2, events, warnings: [] };
  expect(syncResultBytes(decided)).toEqual(syncResult(decided));
});

test('changedSince keeps exactly the values that differ from the state before (a schema-1 event holds the whole report)', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(fc.nat(ids.length - 1), fc.boolean(), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), {
        selector: ([i]) => i,
        minLength: 1,
        maxLength: 60,
      }),
      (picked) => {
        const sorted = [...picked].sort((x, y) => x[0] - y[0]);
        const before = fromBlob;
        const held = (i: number) => before.arrays.cpregValues[before.arrays.cpregValueIndexes[i]!]!;
        // a report of every picked register: some with the value held, some with another
        const rv = {
          ids: sorted.map(([i]) => ids[i]!),
          values: sorted.map(([i, keep, v]) => (keep ? held(i) : v)),
        };
        const got = changedSince(before, rv, rv.ids.length);
        const want = sorted.filter(([i, keep, v]) => !keep && v !== held(i)).map(([i, , v]) => [ids[i]!, v]);
        expect(got.ids.map((id, k) => [id, got.values[k]])).toEqual(want);
        // a report that changed some values is its own delta already
        expect(changedSince(before, rv, rv.ids.length + 1)).toBe(rv);
      },
    ),
    { numRuns: 200 },
  );
});
