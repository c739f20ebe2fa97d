/**
 * Where each value of a JSON text sits, in bytes: lets the converter edit QEMU's vmdesc in place
 * (a version number, a field entry inserted or removed) and keep every other byte as QEMU wrote
 * it — its spacing (", " and ": " in 7.2 and 10.0), key order and string escapes — which
 * re-serialising parsed JSON would not guarantee. Only for text that JSON.parse has accepted
 * (parseVmdesc does that first); anything else is refused.
 */
export type JsonNode =
  | { kind: 'object'; start: number; end: number; members: JsonMember[] }
  | { kind: 'array'; start: number; end: number; items: JsonNode[] }
  | { kind: 'string'; start: number; end: number; value: string }
  | { kind: 'number' | 'literal'; start: number; end: number };

export interface JsonMember {
  key: string;
  /** Offset of the key's opening quote. */
  keyStart: number;
  value: JsonNode;
}

/** Deeper nesting is refused (QEMU's vmdesc nests a handful of levels). */
const MAX_DEPTH = 256;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class JsonSpanError extends Error {}

export function parseJsonSpans(b: Uint8Array): JsonNode {
  let p = 0;
  const fail = (what: string): never => {
    throw new JsonSpanError(`JSON: ${what} at byte ${p}`);
  };
  const ws = () => {
    while (p < b.length && (b[p] === 0x20 || b[p] === 0x0a || b[p] === 0x0d || b[p] === 0x09)) p++;
  };
  const expect = (c: number) => {
    if (b[p] !== c) fail(`expected ${JSON.stringify(String.fromCharCode(c))}`);
    p++;
  };
  const str = (): { start: number; end: number; value: string } => {
    const start = p;
    expect(0x22);
    while (p < b.length && b[p] !== 0x22) p += b[p] === 0x5c ? 2 : 1;
    expect(0x22);
    let value: unknown;
    try {
      value = JSON.parse(utf8.decode(b.subarray(start, p)));
    } catch {
      fail('bad string');
    }
    return { start, end: p, value: value as string };
  };
  const value = (depth: number): JsonNode => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    ws();
    const start = p;
    const c = b[p];
    if (c === 0x7b) {
      p++;
      const members: JsonMember[] = [];
      ws();
      if (b[p] === 0x7d) {
        p++;
        return { kind: 'object', start, end: p, members };
      }
      for (;;) {
        ws();
        const k = str();
        ws();
        expect(0x3a);
        members.push({ key: k.value, keyStart: k.start, value: value(depth + 1) });
        ws();
        if (b[p] === 0x2c) p++;
        else {
          expect(0x7d);
          return { kind: 'object', start, end: p, members };
        }
      }
    }
    if (c === 0x5b) {
      p++;
      const items: JsonNode[] = [];
      ws();
      if (b[p] === 0x5d) {
        p++;
        return { kind: 'array', start, end: p, items };
      }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (b[p] === 0x2c) p++;
        else {
          expect(0x5d);
          return { kind: 'array', start, end: p, items };
        }
      }
    }
    if (c === 0x22) return { kind: 'string', ...str() };
    if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) {
      while (p < b.length && /[-+.eE0-9]/.test(String.fromCharCode(b[p]!))) p++;
      return { kind: 'number', start, end: p };
    }
    for (const lit of ['true', 'false', 'null']) {
      if (b.length - p >= lit.length && String.fromCharCode(...b.subarray(p, p + lit.length)) === lit) {
        p += lit.length;
        return { kind: 'literal', start, end: p };
      }
    }
    return fail('unexpected byte');
  };
  const root = value(0);
  ws();
  if (p !== b.length) fail('trailing bytes');
  return root;
}

/** The value of `key` in an object node, or undefined. */
export function member(node: JsonNode | undefined, key: string): JsonNode | undefined {
  if (node?.kind !== 'object') return undefined;
  return node.members.find((m) => m.key === key)?.value;
}

/** A string member's value, or undefined. */
export function stringMember(node: JsonNode | undefined, key: string): string | undefined {
  const v = member(node, key);
  return v?.kind === 'string' ? v.value : undefined;
}
