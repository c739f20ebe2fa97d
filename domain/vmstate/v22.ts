import type { CpregArrays } from '../cpreg-arrays';
import { DomainError } from '../errors';
import { sizeBytes, type RegId } from '../regid';
import { checkIds, listRegs, malformed, narrowSlotFits, V22_MAX_SIZE_FIELD } from './check';
import { halves, readU64Block, viewOf, writeU64Block } from './words';

/**
 * v22 (QEMU 7.2 … master, fields 13–15 of the `cpu` section), direct addressing:
 *   be32 N | N × be64 index | N × be64 value          (DOMAIN.md §6)
 */
export function decodeV22(blob: Uint8Array): CpregArrays {
  if (blob.length < 4) throw malformed(`v22 blob truncated: ${blob.length} bytes, the 4-byte count is incomplete`);
  const view = viewOf(blob);
  const n = view.getInt32(0, false);
  if (n < 0) throw malformed(`v22 register count ${n} is negative`);
  const expected = 4 + 16 * n;
  if (blob.length !== expected) {
    throw malformed(
      `v22 blob with ${n} registers must be ${expected} bytes, got ${blob.length} (${blob.length < expected ? 'truncated' : 'trailing bytes'})`,
    );
  }
  const ids = readU64Block(view, 4, n);
  checkIds(ids, V22_MAX_SIZE_FIELD);
  const values = readU64Block(view, 4 + 8 * n, n);
  checkNarrowValues(ids, values);
  const valueIndexes = new Uint32Array(n);
  for (let i = 0; i < n; i++) valueIndexes[i] = i;
  return { cpregIndexes: ids, cpregValueIndexes: valueIndexes, cpregValues: values };
}

function checkNarrowValues(ids: BigUint64Array, values: BigUint64Array): void {
  const id = halves(ids);
  const v = halves(values);
  let bad: RegId[] | undefined;
  for (let i = 0; i < ids.length; i++) {
    if (!narrowSlotFits((id.hi(i) >>> 20) & 0xf, v.hi(i), v.lo(i))) (bad ??= []).push(ids[i]);
  }
  if (bad) throw malformed('values have bits set above their register width', bad);
}

/** Registers a v22 blob cannot carry (wider than 8 bytes), ascending. */
export function tooWideForV22(a: CpregArrays): RegId[] {
  const wide: RegId[] = [];
  for (const id of a.cpregIndexes) if (sizeBytes(id) > 8) wide.push(id);
  return wide;
}

export function encodeV22(a: CpregArrays): Uint8Array {
  const wide = tooWideForV22(a);
  if (wide.length) {
    throw new DomainError(
      'not-representable',
      `v22 cannot carry registers wider than 8 bytes; export v23 instead. Too wide: ${listRegs(wide)}`,
      wide,
    );
  }
  const n = a.cpregIndexes.length;
  const out = new Uint8Array(4 + 16 * n);
  const view = viewOf(out);
  view.setInt32(0, n, false);
  writeU64Block(view, 4, a.cpregIndexes);
  // Every register takes exactly one slot here, so value i sits in slot valueIndexes[i] = i.
  writeU64Block(view, 4 + 8 * n, a.cpregValues.length === n ? a.cpregValues : gatherOneSlotEach(a));
  return out;
}

function gatherOneSlotEach(a: CpregArrays): BigUint64Array {
  const out = new BigUint64Array(a.cpregIndexes.length);
  for (let i = 0; i < out.length; i++) out[i] = a.cpregValues[a.cpregValueIndexes[i]];
  return out;
}
