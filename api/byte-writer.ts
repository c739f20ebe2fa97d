import type { RegId } from '../domain/regid';
import { formatValue, valueTextRoom, writeDigitsAt, writeValueText } from '../domain/values';

const utf8 = new TextEncoder();
const M64 = (1n << 64n) - 1n;

/**
 * An answer's JSON written as UTF-8 bytes into one buffer that grows as it must. Why: a sync's
 * answer names hundreds of values, and a string per value (then encoding the whole text) cost
 * more than writing their digits in place.
 */
export class ByteWriter {
  private buf: Uint8Array;
  private p = 0;

  constructor(size = 4096) {
    this.buf = Buffer.allocUnsafe(size); // every byte read back is written first (done)
  }

  private room(n: number): void {
    if (this.p + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.p + n));
    grown.set(this.buf.subarray(0, this.p));
    this.buf = grown;
  }

  byte(c: number): void {
    this.room(1);
    this.buf[this.p++] = c;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.p);
    this.p += b.length;
  }

  /** src[from, to) copied in; answers where it starts (digits inside it may then be set: hexAt). */
  span(src: Uint8Array, from: number, to: number): number {
    const at = this.p;
    this.room(to - from);
    this.buf.set(src.subarray(from, to), at);
    this.p += to - from;
    return at;
  }

  /** The `digits` lowest hex digits of the value (hi, lo: its 32-bit halves) over bytes already written at `at`. */
  hexAt(at: number, digits: number, hi: number, lo: number): void {
    writeDigitsAt(this.buf, at, digits, hi, lo);
  }

  /** Any text, as UTF-8 (JSON already: the caller escaped it). */
  text(s: string): void {
    this.room(3 * s.length); // a UTF-16 unit is at most 3 UTF-8 bytes
    this.p += utf8.encodeInto(s, this.buf.subarray(this.p)).written;
  }

  /** formatValue(id, value)'s digits, without the string. */
  value(id: RegId, value: bigint): void {
    if (value < 0n || value > M64) return this.text(formatValue(id, value));
    this.room(valueTextRoom(id));
    this.p = writeValueText(this.buf, this.p, id, value);
  }

  /** What was written (a view of the buffer: write nothing after). */
  done(): Uint8Array {
    return this.buf.subarray(0, this.p);
  }

  /** What was written, as the text it encodes. */
  decoded(): string {
    return utf8Text(this.done());
  }
}

/** UTF-8 bytes as text. */
export function utf8Text(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8');
}

const pieces = new Map<string, Uint8Array>();
/** The UTF-8 of a constant piece of JSON, encoded once. */
export function piece(s: string): Uint8Array {
  let b = pieces.get(s);
  if (!b) pieces.set(s, (b = utf8.encode(s)));
  return b;
}
