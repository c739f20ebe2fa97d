import fc from 'fast-check';
import type { RegId } from '../../domain/regid';
import { decide, serializeEvent, type VcpuCommand } from '../../domain/vcpu';
import { canonicalJson } from '../../storage/canonical';
import { registersAndValues, runLists } from '../helpers/register-runs';

// The stored text of the events that carry many values (written from the list's templates, runs
// of consecutive registers copied) is the canonical JSON of their data, whatever the registers.
const M64 = (1n << 64n) - 1n;
const M32 = 0xffffffffn;

/** A report as the fast lane reads one (ReportWords: 4 words per register), values of up to 64 bits. */
function asWords(ids: readonly RegId[], values: readonly bigint[]): VcpuCommand {
  const words = new Uint32Array(4 * ids.length);
  ids.forEach((id, k) => {
    const v = values[k]! & M64;
    words.set([Number(id >> 32n), Number(id & M32), Number(v >> 32n), Number(v & M32)], 4 * k);
  });
  return { type: 'SyncFromAccelerator', values: { kind: 'words', n: ids.length, words } };
}

const commands: Array<[string, (ids: readonly RegId[], values: readonly bigint[]) => VcpuCommand]> = [
  ['a sync reported as words (the fast lane: list positions known)', asWords],
  [
    'a sync reported as pairs',
    (ids, values) => ({ type: 'SyncFromAccelerator', values: ids.map((id, k) => [id, values[k]!]) }),
  ],
  [
    'a write (values fit their registers)',
    (ids, values) => ({
      type: 'WriteRegisters',
      values: ids.map((id, k) => [id, values[k]! & ((1n << (8n << ((id >> 52n) & 0xfn))) - 1n)]),
    }),
  ],
];

describe.each(runLists)('an event written as text on a %s list', (_, state) => {
  const list = state.arrays.cpregIndexes;
  test.each(commands)('%s: dataText is canonicalJson(data)', (__, command) => {
    fc.assert(
      fc.property(registersAndValues(list), ([ids, values]) => {
        for (const e of decide(command(ids, values), state)) {
          const s = serializeEvent(e);
          expect(s.dataText).toBeDefined();
          expect(s.dataText).toBe(canonicalJson(s.data));
        }
      }),
      { numRuns: 200 },
    );
  });
});
