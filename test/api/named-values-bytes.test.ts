import fc from 'fast-check';
import { ByteWriter } from '../../api/byte-writer';
import { namedValues, writeNamedValues } from '../../api/views';
import { registersAndValues, runLists } from '../helpers/register-runs';

describe.each(runLists)('writeNamedValues on a %s list', (_, state) => {
  const list = state.arrays.cpregIndexes;
  test('writes the UTF-8 of JSON.stringify(namedValues) for any registers and values', () => {
    fc.assert(
      fc.property(registersAndValues(list), ([ids, values]) => {
        const rv = { ids, values };
        const w = new ByteWriter(16);
        writeNamedValues(w, rv, state);
        expect(w.decoded()).toBe(JSON.stringify(namedValues(rv, state)));
      }),
      { numRuns: 300 },
    );
  });

  test('given every register of the list changed, one answer names them all in order', () => {
    const ids = [...list];
    const values = ids.map((id, i) => BigInt(i * 104729) & ((1n << (8n << ((id >> 52n) & 0xfn))) - 1n));
    const w = new ByteWriter();
    writeNamedValues(w, { ids, values }, state);
    expect(w.decoded()).toBe(JSON.stringify(namedValues({ ids, values }, state)));
  });
});
