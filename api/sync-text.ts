import { wellFormedWords } from '../domain/regid';
import { half, hex8, hexRun } from '../domain/words';
import { PlainJson } from './plain-json';

/**
 * The shape of a sync report read straight from the body's text: `{"direction": "…", "values":
 * {"<reg>": "<value>", …}, "failed": ["<reg>", …]}` (any order, any JSON whitespace). It exists
 * because JSON.parse builds an object of hundreds of keys that is walked once and thrown away:
 * for a 300-value report that cost more than everything else the request does.
 *
 * It reads only what JSON.parse would read identically and nothing else: a string with an escape
 * or a control character, a number, a nested value, a repeated key, a key JSON.parse would
 * reorder (an array index), or anything after the object, and it answers undefined — the caller
 * then parses the text as JSON and takes the general path.
 */
export interface SyncText {
  direction: string;
  /** The keys of `values`, in the order of the text (JSON.parse's order for these keys). */
  regs: string[];
  /** Their values, parallel to regs. */
  values: string[];
  failed?: string[];
  /**
   * Instead of regs and values, when every key is a 16-digit register id and every value 1 to 16
   * hex digits, ids strictly ascending: the report as ReportWords' words (id high, id low, value
   * high, value low per register), read without a string per key or value.
   */
  words?: Uint32Array;
  /**
   * With words, when some keys are register names (not `0x…`): names[k] is key k (its id words
   * are 0), undefined where the key is an id. No key repeats.
   */
  names?: readonly (string | undefined)[];
}

export function scanSyncText(t: string): SyncText | undefined {
  const j = new PlainJson(t);
  const out: SyncText = { direction: '', regs: [], values: [] };
  let seen = 0; // 1 direction, 2 values, 4 failed
  j.ws();
  if (!j.eat(0x7b)) return undefined;
  j.ws();
  for (;;) {
    const key = j.str();
    if (key === undefined) return undefined;
    j.ws();
    if (!j.eat(0x3a)) return undefined;
    j.ws();
    if (key === 'direction') {
      if (seen & 1) return undefined;
      seen |= 1;
      const d = j.str();
      if (d === undefined) return undefined;
      out.direction = d;
    } else if (key === 'values') {
      if (seen & 2) return undefined;
      const at = j.p;
      const words = wordMembers(j);
      if (words) out.words = words;
      else if (((j.p = at), !keyedWordMembers(j, out)) && ((j.p = at), !members(j, out))) return undefined;
      seen |= 2;
    } else if (key === 'failed') {
      if (seen & 4) return undefined;
      seen |= 4;
      const f = list(j);
      if (f === undefined) return undefined;
      out.failed = f;
    } else return undefined; // another key: the general path names it
    j.ws();
    if (j.eat(0x7d)) break;
    if (!j.eat(0x2c)) return undefined;
    j.ws();
  }
  return j.done() && seen & 2 ? out : undefined;
}

/** `{"reg": "value", …}` into o.regs / o.values. */
function members(j: PlainJson, o: SyncText): boolean {
  if (!j.eat(0x7b)) return false;
  j.ws();
  if (j.eat(0x7d)) return true;
  let ascending = true;
  for (;;) {
    const reg = j.str();
    if (reg === undefined || indexLike(reg)) return false;
    const last = o.regs.length ? o.regs[o.regs.length - 1]! : undefined;
    if (last !== undefined && !(last < reg)) ascending = false;
    j.ws();
    if (!j.eat(0x3a)) return false;
    j.ws();
    const value = j.str();
    if (value === undefined) return false;
    o.regs.push(reg);
    o.values.push(value);
    j.ws();
    if (j.eat(0x7d)) break;
    if (!j.eat(0x2c)) return false;
    j.ws();
  }
  // JSON.parse keeps a repeated key once, with its last value: not ours to copy
  return ascending || new Set(o.regs).size === o.regs.length;
}

let scratch = new Uint32Array(4 * 512);

/** Room in scratch for register n's four words (it grows, keeping what is there). */
function roomFor(n: number): void {
  if (scratch.length >= 4 * (n + 1)) return;
  const grown = new Uint32Array(2 * scratch.length);
  grown.set(scratch);
  scratch = grown;
}

/**
 * `{"0x<16 hex>": "0x<1..16 hex>", …}` with ids well formed and strictly ascending (so no key
 * repeats, and JSON.parse keeps them in this order) → the words; undefined for anything else
 * (an empty object included), wherever it stops.
 */
function wordMembers(j: PlainJson): Uint32Array | undefined {
  const t = j.t;
  let p = j.p;
  if (t.charCodeAt(p) !== 0x7b) return undefined;
  p = skipWs(t, p + 1);
  let n = 0;
  let lastHi = -1;
  let lastLo = -1;
  for (;;) {
    // the key: "0x" and exactly 16 digits
    if (t.charCodeAt(p) !== 0x22 || t.charCodeAt(p + 1) !== 48 || t.charCodeAt(p + 2) !== 120) return undefined;
    const hi = hex8(t, p + 3);
    const lo = hex8(t, p + 11);
    if (hi < 0 || lo < 0 || t.charCodeAt(p + 19) !== 0x22) return undefined;
    if (!wellFormedWords(hi, lo)) return undefined;
    if (hi < lastHi || (hi === lastHi && lo <= lastLo)) return undefined;
    lastHi = hi;
    lastLo = lo;
    p = skipWs(t, p + 20);
    if (t.charCodeAt(p) !== 0x3a) return undefined;
    p = skipWs(t, p + 1);
    // the value: "0x" and 1 to 16 digits
    if (t.charCodeAt(p) !== 0x22 || t.charCodeAt(p + 1) !== 48 || t.charCodeAt(p + 2) !== 120) return undefined;
    const q = hexRun(t, p + 3, 16);
    if (q === p + 3 || t.charCodeAt(q) !== 0x22) return undefined;
    const { hi: vhi, lo: vlo } = half;
    roomFor(n);
    scratch[4 * n] = hi;
    scratch[4 * n + 1] = lo;
    scratch[4 * n + 2] = vhi;
    scratch[4 * n + 3] = vlo;
    n++;
    p = skipWs(t, q + 1);
    const c = t.charCodeAt(p);
    if (c === 0x7d) break;
    if (c !== 0x2c) return undefined;
    p = skipWs(t, p + 1);
  }
  j.p = p + 1;
  return scratch.slice(0, 4 * n);
}

/**
 * `{"<reg>": "0x<1..16 hex>", …}` where a key is a 16-digit id (as wordMembers reads one) or a
 * register name (a key without "0x"), none twice, in any order → the words, and the names at
 * their keys' positions when there are any; false for anything else, wherever it stops. Why:
 * agents and people name registers (TPIDR_EL0) as often as they give ids, in any order.
 */
function keyedWordMembers(j: PlainJson, o: SyncText): boolean {
  const t = j.t;
  if (!j.eat(0x7b)) return false;
  j.ws();
  // An agent names the same registers in the same order every time: while the keys are the last
  // report's, they are matched in place (no string made) and known to be distinct.
  const last = lastLayout;
  const keys: string[] = [];
  const names: (string | undefined)[] = [];
  let same = last !== undefined;
  let n = 0;
  let named = 0;
  for (;;) {
    let key: string | undefined;
    const known = same && n < last!.keys.length ? last!.keys[n]! : undefined;
    if (
      known !== undefined &&
      t.charCodeAt(j.p) === 0x22 &&
      t.startsWith(known, j.p + 1) &&
      t.charCodeAt(j.p + 1 + known.length) === 0x22
    ) {
      key = known;
      j.p += known.length + 2;
    } else {
      same = false;
      key = j.str();
      if (key === undefined || key.length === 0 || key.length > 128 || key === '__proto__' || indexLike(key))
        return false;
    }
    keys.push(key);
    roomFor(n);
    if (key.charCodeAt(0) === 48 && (key.charCodeAt(1) | 0x20) === 120) {
      // an id: only as the syncs' quick path reads one (anything else is the schema's to judge)
      if (key.length !== 18 || hexRun(key, 2, 16) !== 18 || key.charCodeAt(1) !== 120) return false;
      if (!wellFormedWords(half.hi, half.lo)) return false;
      scratch[4 * n] = half.hi;
      scratch[4 * n + 1] = half.lo;
      names.push(undefined);
    } else {
      scratch[4 * n] = 0;
      scratch[4 * n + 1] = 0;
      names.push(key);
      named++;
    }
    j.ws();
    if (!j.eat(0x3a)) return false;
    j.ws();
    // the value: "0x" and 1 to 16 digits
    const p = j.p;
    if (t.charCodeAt(p) !== 0x22 || t.charCodeAt(p + 1) !== 48 || t.charCodeAt(p + 2) !== 120) return false;
    const q = hexRun(t, p + 3, 16);
    if (q === p + 3 || t.charCodeAt(q) !== 0x22) return false;
    scratch[4 * n + 2] = half.hi;
    scratch[4 * n + 3] = half.lo;
    n++;
    j.p = q + 1;
    j.ws();
    if (j.eat(0x7d)) break;
    if (!j.eat(0x2c)) return false;
    j.ws();
  }
  let layout = same && n === last!.keys.length ? last : undefined;
  if (!layout) {
    // JSON.parse keeps a repeated key once (its last value): not ours to copy
    if (new Set(keys).size !== n) return false;
    lastLayout = layout = { keys, names };
  }
  if (named > 0) o.names = layout.names;
  o.words = scratch.slice(0, 4 * n);
  return true;
}

/** The keys of the last report read by keyedWordMembers (distinct), and its names (never mutated). */
let lastLayout: { keys: readonly string[]; names: readonly (string | undefined)[] } | undefined;

function skipWs(t: string, p: number): number {
  for (let c = t.charCodeAt(p); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = t.charCodeAt(++p));
  return p;
}

/** `["reg", …]`. */
function list(j: PlainJson): string[] | undefined {
  if (!j.eat(0x5b)) return undefined;
  const items: string[] = [];
  j.ws();
  if (j.eat(0x5d)) return items;
  for (;;) {
    const s = j.str();
    if (s === undefined) return undefined;
    items.push(s);
    j.ws();
    if (j.eat(0x5d)) return items;
    if (!j.eat(0x2c)) return undefined;
    j.ws();
  }
}

/** A key JSON.parse puts first, in numeric order (an array index): not read here. */
function indexLike(k: string): boolean {
  const c = k.charCodeAt(0);
  return k === '0' || (c >= 0x31 && c <= 0x39);
}
