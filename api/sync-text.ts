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
      if (seen & 2 || !members(j, out)) return undefined;
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
