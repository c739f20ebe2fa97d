/**
 * A reader of the plainest JSON: strings without escapes or control characters, and JSON's
 * whitespace. The scanners of the write bodies (sync-text.ts, and `{"value": "…"}` below) use it to
 * read what JSON.parse would read identically, and answer undefined for anything else (the caller
 * then parses the text as JSON).
 */
export class PlainJson {
  p = 0;

  constructor(readonly t: string) {}

  ws(): void {
    const t = this.t;
    let p = this.p;
    for (let c = t.charCodeAt(p); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = t.charCodeAt(++p));
    this.p = p;
  }

  /** The character code `c` next (then past it), or false. */
  eat(c: number): boolean {
    if (this.t.charCodeAt(this.p) !== c) return false;
    this.p++;
    return true;
  }

  /** A string without escapes next (then past its closing quote), or undefined. */
  str(): string | undefined {
    const t = this.t;
    if (t.charCodeAt(this.p) !== 0x22) return undefined;
    const start = this.p + 1;
    for (let p = start; p < t.length; p++) {
      const c = t.charCodeAt(p);
      if (c === 0x22) {
        this.p = p + 1;
        return t.slice(start, p);
      }
      if (c === 0x5c || c < 0x20) return undefined;
    }
    return undefined;
  }

  /** Only whitespace is left. */
  done(): boolean {
    this.ws();
    return this.p === this.t.length;
  }
}

/** `{"value": "<string>"}` and nothing else: the string (what JSON.parse(t).value is), or undefined. */
export function plainValueBody(t: string): string | undefined {
  const j = new PlainJson(t);
  j.ws();
  if (!j.eat(0x7b)) return undefined;
  j.ws();
  if (j.str() !== 'value') return undefined;
  j.ws();
  if (!j.eat(0x3a)) return undefined;
  j.ws();
  const v = j.str();
  if (v === undefined) return undefined;
  j.ws();
  return j.eat(0x7d) && j.done() ? v : undefined;
}
