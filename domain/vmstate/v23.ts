import type { CpregArrays } from '../cpreg-arrays';
import type { RegId } from '../regid';
import { checkIdWords, malformed, sizeFieldAt, V23_MAX_SIZE_FIELD } from './check';
import { readU32Block, readU64Words, viewOf, writeU32Block, writeU64Block } from './words';

/**
 * v23 (patch 4/5 of the variable-sized cpregs series), indirect addressing:
 *   be32 N | be32 M | N × be64 index | M × be64 value | N × be32 value_index
 * Stricter than the patch: value indexes must be exactly the layout the ids' sizes imply
 * (start at 0, each register's slot count from its size, summing to M) — the patch trusts the
 * sender's indexes and a crafted blob overflows cpreg_values. Slots are kept as they are (a
 * 32-bit register's slot may carry upper bits: QEMU 10.0 writes them, see checkIdWords).
 */
export function decodeV23(blob: Uint8Array): CpregArrays {
  if (blob.length < 8) throw malformed(`v23 blob truncated: ${blob.length} bytes, the 8-byte header is incomplete`);
  const view = viewOf(blob);
  const n = view.getInt32(0, false);
  const m = view.getInt32(4, false);
  if (n < 0) throw malformed(`v23 register count N=${n} is negative`);
  if (m < 0) throw malformed(`v23 value count M=${m} is negative`);
  const expected = 8 + 12 * n + 8 * m;
  if (blob.length !== expected) {
    throw malformed(
      `v23 blob with N=${n}, M=${m} must be ${expected} bytes, got ${blob.length} (${blob.length < expected ? 'truncated' : 'trailing bytes'})`,
    );
  }
  // ids and values are contiguous: one buffer, two views
  const w = readU64Words(blob, 8, n + m);
  const ids = new BigUint64Array(w.buffer, 0, n);
  const values = new BigUint64Array(w.buffer, 8 * n, m);
  checkIdWords(w, 0, ids, V23_MAX_SIZE_FIELD);
  const valueIndexes = readU32Block(view, 8 + 8 * n + 8 * m, n);
  checkValueIndexes(w, ids, valueIndexes, m);
  return { cpregIndexes: ids, cpregValueIndexes: valueIndexes, cpregValues: values };
}

function checkValueIndexes(w: Uint32Array, ids: BigUint64Array, valueIndexes: Uint32Array, m: number): void {
  const bad: RegId[] = [];
  let next = 0;
  for (let i = 0; i < ids.length; i++) {
    const at = valueIndexes[i]!;
    if (at !== next) bad.push(ids[i]!);
    const sizeField = sizeFieldAt(w, i);
    next = at + (sizeField < 3 ? 1 : 1 << (sizeField - 3)); // slot rule, see slotsFor
  }
  if (bad.length) {
    throw malformed(
      "value indexes disagree with the register sizes (must start at 0, each advancing by the previous register's slots)",
      bad,
    );
  }
  if (next !== m) {
    const last = ids.length ? [ids[ids.length - 1]!] : [];
    throw malformed(`value indexes and sizes need M=${next} slots but the blob says M=${m}`, last);
  }
}

export function encodeV23(a: CpregArrays): Uint8Array {
  const n = a.cpregIndexes.length;
  const m = a.cpregValues.length;
  const out = new Uint8Array(8 + 12 * n + 8 * m);
  const view = viewOf(out);
  view.setInt32(0, n, false);
  view.setInt32(4, m, false);
  writeU64Block(out, 8, a.cpregIndexes);
  writeU64Block(out, 8 + 8 * n, a.cpregValues);
  writeU32Block(view, 8 + 8 * n + 8 * m, a.cpregValueIndexes);
  return out;
}
