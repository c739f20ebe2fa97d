import { layoutArrays, type CpregArrays } from '../cpreg-arrays';

/**
 * One layout per distinct cpreg list. A fleet runs a handful of CPU models, so its vCPUs share a
 * handful of lists; every state folded or restored from a snapshot takes the shared ids and value
 * indexes of its list (never mutated after creation), with value slots of its own. What is cached
 * per list (the fold's id index, name indexes, named ids) is then made once per list, not once
 * per vCPU: the memory of 10,000 cached vCPUs is their values, not 10,000 copies of those caches.
 */
const layouts = new Map<number, Array<{ ids: BigUint64Array; valueIndexes: Uint32Array; slots: number }>>();
let remembered = 0;
const MAX_LISTS = 4096;

/** layoutArrays(ids) with the list and value indexes shared among equal lists (ids ascending). */
export function sharedLayout(ids: BigUint64Array): CpregArrays {
  const w = new Uint32Array(ids.buffer, ids.byteOffset, ids.length * 2);
  let h = (0x811c9dc5 ^ ids.length) | 0;
  for (let k = 0; k < w.length; k++) h = Math.imul(h ^ w[k]!, 0x01000193);
  const bucket = layouts.get(h);
  if (bucket) {
    for (const e of bucket) {
      if (e.ids.length === ids.length && sameWords(e.ids, w)) {
        return { cpregIndexes: e.ids, cpregValueIndexes: e.valueIndexes, cpregValues: new BigUint64Array(e.slots) };
      }
    }
  }
  const a = layoutArrays(ids);
  if (remembered < MAX_LISTS) {
    remembered++;
    const e = { ids: a.cpregIndexes, valueIndexes: a.cpregValueIndexes, slots: a.cpregValues.length };
    if (bucket) bucket.push(e);
    else layouts.set(h, [e]);
  }
  return a;
}

function sameWords(ids: BigUint64Array, w: Uint32Array): boolean {
  const v = new Uint32Array(ids.buffer, ids.byteOffset, ids.length * 2);
  for (let k = 0; k < w.length; k++) if (v[k] !== w[k]) return false;
  return true;
}
