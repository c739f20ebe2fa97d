import fc from 'fast-check';
import { asFreshQemuHoldsThem } from '../../domain/compatibility';
import { layoutArrays, slotsFor, type CpregArrays } from '../../domain/cpreg-arrays';
import { registerModels, type RegisterModel } from '../../domain/register-model';

/** The rule of asFreshQemuHoldsThem written plainly, one bigint per register (the specification). */
function reference(arrays: CpregArrays, model: RegisterModel): BigUint64Array {
  const out = arrays.cpregValues.slice();
  const same =
    model.ids.length === arrays.cpregIndexes.length && model.ids.every((id, i) => id === arrays.cpregIndexes[i]);
  if (!same) return out;
  model.facts.forEach((f, i) => {
    if (f.varies || f.volatile || slotsFor(f.id) > 1) return;
    const slot = arrays.cpregValueIndexes[i]!;
    out[slot] = (out[slot]! & f.keep) | (f.reset & ~f.keep);
  });
  return out;
}

const models = registerModels();

test('given a measured model and any values on its list, when a fresh QEMU holds them, then every kept bit stays and every other is reset', () => {
  fc.assert(
    fc.property(
      fc.nat(models.length - 1),
      fc.array(fc.tuple(fc.nat(), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), { maxLength: 40 }),
      fc.boolean(),
      (m, changes, fromReset) => {
        const model = models[m]!;
        const arrays = layoutArrays(model.ids.slice()); // an equal list, not the model's own object
        // start from the model's reset values (mostly unchanged) or from zeros, then change some
        if (fromReset) model.facts.forEach((f, i) => (arrays.cpregValues[arrays.cpregValueIndexes[i]!] = f.reset));
        for (const [at, v] of changes) arrays.cpregValues[at % arrays.cpregValues.length] = v;
        const before = arrays.cpregValues.slice();
        const held = asFreshQemuHoldsThem(arrays, model);
        expect(Array.from(held.cpregValues)).toEqual(Array.from(reference(arrays, model)));
        expect(Array.from(arrays.cpregValues)).toEqual(Array.from(before)); // the input is not touched
        if (held !== arrays) expect(held.cpregIndexes).toBe(arrays.cpregIndexes);
      },
    ),
    { numRuns: 300 },
  );
});

test("given a list that is not the model's, the values are left as they are", () => {
  const model = models[0]!;
  const arrays = layoutArrays(model.ids.slice(1));
  arrays.cpregValues.fill(0xffffffffffffffffn);
  expect(asFreshQemuHoldsThem(arrays, model)).toBe(arrays);
  expect(asFreshQemuHoldsThem(arrays, undefined)).toBe(arrays);
});
