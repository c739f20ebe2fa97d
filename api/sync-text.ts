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

const WS = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

export function scanSyncText(t: string): SyncText | undefined {
  let p = 0;
  const n = t.length;
  const skip = () => {
    while (p < n && WS(t.charCodeAt(p))) p++;
  };
  /** A string without escapes at p (p past its closing quote after), or undefined. */
  const str = (): string | undefined => {
    if (t.charCodeAt(p) !== 0x22) return undefined;
    const start = ++p;
    for (; p < n; p++) {
      const c = t.charCodeAt(p);
      if (c === 0x22) return t.slice(start, p++);
      if (c === 0x5c || c < 0x20) return undefined;
    }
    return undefined;
  };
  const out: SyncText = { direction: '', regs: [], values: [] };
  let seen = 0; // 1 direction, 2 values, 4 failed
  skip();
  if (t.charCodeAt(p++) !== 0x7b) return undefined;
  skip();
  for (;;) {
    const key = str();
    if (key === undefined) return undefined;
    skip();
    if (t.charCodeAt(p++) !== 0x3a) return undefined;
    skip();
    if (key === 'direction') {
      if (seen & 1) return undefined;
      seen |= 1;
      const d = str();
      if (d === undefined) return undefined;
      out.direction = d;
    } else if (key === 'values') {
      if (seen & 2 || !members(out)) return undefined;
      seen |= 2;
    } else if (key === 'failed') {
      if (seen & 4) return undefined;
      seen |= 4;
      const f = list();
      if (f === undefined) return undefined;
      out.failed = f;
    } else return undefined; // another key: the general path names it
    skip();
    const c = t.charCodeAt(p++);
    if (c === 0x7d) break;
    if (c !== 0x2c) return undefined;
    skip();
  }
  skip();
  if (p !== n || !(seen & 2)) return undefined;
  return out;

  /** `{"reg": "value", …}` into out.regs / out.values. */
  function members(o: SyncText): boolean {
    if (t.charCodeAt(p++) !== 0x7b) return false;
    skip();
    if (t.charCodeAt(p) === 0x7d) {
      p++;
      return true;
    }
    let ascending = true;
    for (;;) {
      const reg = str();
      if (reg === undefined || indexLike(reg)) return false;
      const last = o.regs.length ? o.regs[o.regs.length - 1]! : undefined;
      if (last !== undefined && !(last < reg)) ascending = false;
      skip();
      if (t.charCodeAt(p++) !== 0x3a) return false;
      skip();
      const value = str();
      if (value === undefined) return false;
      o.regs.push(reg);
      o.values.push(value);
      skip();
      const c = t.charCodeAt(p++);
      if (c === 0x7d) break;
      if (c !== 0x2c) return false;
      skip();
    }
    // JSON.parse keeps a repeated key once, with its last value: not ours to copy
    return ascending || new Set(o.regs).size === o.regs.length;
  }

  /** `["reg", …]`. */
  function list(): string[] | undefined {
    if (t.charCodeAt(p++) !== 0x5b) return undefined;
    const items: string[] = [];
    skip();
    if (t.charCodeAt(p) === 0x5d) {
      p++;
      return items;
    }
    for (;;) {
      const s = str();
      if (s === undefined) return undefined;
      items.push(s);
      skip();
      const c = t.charCodeAt(p++);
      if (c === 0x5d) return items;
      if (c !== 0x2c) return undefined;
      skip();
    }
  }
}

/** A key JSON.parse puts first, in numeric order (an array index): not read here. */
function indexLike(k: string): boolean {
  const c = k.charCodeAt(0);
  return k === '0' || (c >= 0x31 && c <= 0x39);
}
