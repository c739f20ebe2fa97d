import { DomainError } from '../errors';

/** Every refusal of a stream names the absolute byte offset it is about. */
export function malformed(offset: number, message: string): DomainError {
  return new DomainError('malformed-blob', `at byte ${offset}: ${message}`);
}

/**
 * What the record parsers read from: either the live chunk queue or a finished buffer.
 * `view` returns the next n bytes contiguously (or null if fewer are available) without consuming.
 */
export interface ByteSource {
  readonly offset: number;
  readonly available: number;
  view(n: number): Uint8Array | null;
  advance(n: number): void;
  /**
   * The next 8 bytes as two be32 words in `hi`/`lo`, without consuming them and without
   * allocating (a RAM record header per page of a multi-GB stream); false if fewer are available.
   */
  peek64(): boolean;
  readonly hi: number;
  readonly lo: number;
  /**
   * The contiguous bytes from the read position, without copying: `bytes[start..end)` are the
   * next `end - start` bytes (the rest of the current chunk). Valid until the next advance.
   */
  contiguous(): { bytes: Uint8Array; start: number; end: number };
}

export function be16(b: Uint8Array, i: number): number {
  return (b[i]! << 8) | b[i + 1]!;
}
export function be32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}
/** A be64 as a JS number; refuses values beyond 2^53 (no RAM size or offset comes close). */
export function be64Number(b: Uint8Array, i: number, offset: number, what: string): number {
  const hi = be32(b, i);
  if (hi >= 0x200000)
    throw malformed(
      offset,
      `${what} 0x${hi.toString(16)}${be32(b, i + 4)
        .toString(16)
        .padStart(8, '0')} is too large`,
    );
  return hi * 0x100000000 + be32(b, i + 4);
}
export function be64(b: Uint8Array, i: number): bigint {
  return (BigInt(be32(b, i)) << 32n) | BigInt(be32(b, i + 4));
}
export function putBe64(b: Uint8Array, i: number, v: bigint): void {
  const hi = Number((v >> 32n) & 0xffffffffn);
  const lo = Number(v & 0xffffffffn);
  b[i] = hi >>> 24;
  b[i + 1] = (hi >>> 16) & 0xff;
  b[i + 2] = (hi >>> 8) & 0xff;
  b[i + 3] = hi & 0xff;
  b[i + 4] = lo >>> 24;
  b[i + 5] = (lo >>> 16) & 0xff;
  b[i + 6] = (lo >>> 8) & 0xff;
  b[i + 7] = lo & 0xff;
}

/**
 * A copy of `b`. Not `b.slice()`: on a Node Buffer that returns a view of the same memory, and the
 * reader must not keep views of buffers its callers may reuse.
 */
export function copyOf(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(b.subarray(start, end));
  return out;
}

const latin1 = new TextDecoder('latin1');
export function ascii(b: Uint8Array, start: number, len: number): string {
  return latin1.decode(b.subarray(start, start + len));
}

const EMPTY = new Uint8Array(0);

/**
 * The pushed-but-unread chunks of a live stream. Holds references, never copies whole chunks:
 * only a header straddling two chunks is copied (into a small array) by `view`.
 */
export class ByteQueue implements ByteSource {
  private chunks: Uint8Array[] = [];
  private first = 0; // index of the first live chunk (shifting arrays is O(n))
  private head = 0; // read position inside chunks[first]
  private avail = 0;
  offset = 0;
  hi = 0;
  lo = 0;

  private readonly window: { bytes: Uint8Array; start: number; end: number } = { bytes: EMPTY, start: 0, end: 0 };
  contiguous(): { bytes: Uint8Array; start: number; end: number } {
    const w = this.window;
    const c = this.avail > 0 ? this.chunks[this.first]! : EMPTY;
    w.bytes = c;
    w.start = this.avail > 0 ? this.head : 0;
    w.end = c.length;
    return w;
  }

  peek64(): boolean {
    if (this.avail < 8) return false;
    const c = this.chunks[this.first]!;
    const i = this.head;
    if (c.length - i < 8) {
      const v = this.view(8)!; // straddles two chunks: the rare copy
      this.hi = be32(v, 0);
      this.lo = be32(v, 4);
      return true;
    }
    this.hi = ((c[i]! << 24) | (c[i + 1]! << 16) | (c[i + 2]! << 8) | c[i + 3]!) >>> 0;
    this.lo = ((c[i + 4]! << 24) | (c[i + 5]! << 16) | (c[i + 6]! << 8) | c[i + 7]!) >>> 0;
    return true;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.avail += chunk.length;
  }

  get available(): number {
    return this.avail;
  }

  view(n: number): Uint8Array | null {
    if (n > this.avail) return null;
    const c = this.chunks[this.first]!;
    if (c.length - this.head >= n) return c.subarray(this.head, this.head + n);
    const out = new Uint8Array(n);
    let filled = 0;
    let i = this.first;
    let pos = this.head;
    while (filled < n) {
      const src = this.chunks[i]!;
      const take = Math.min(n - filled, src.length - pos);
      out.set(src.subarray(pos, pos + take), filled);
      filled += take;
      i++;
      pos = 0;
    }
    return out;
  }

  advance(n: number): void {
    if (n > this.avail) throw new RangeError('ByteQueue.advance beyond available bytes');
    this.avail -= n;
    this.offset += n;
    while (n > 0) {
      const c = this.chunks[this.first]!;
      const left = c.length - this.head;
      if (n < left) {
        this.head += n;
        return;
      }
      n -= left;
      this.dropFirst();
    }
    if (this.first < this.chunks.length && this.head === this.chunks[this.first]!.length) this.dropFirst();
  }

  /**
   * Copies the unread bytes (after a push these are at most a partial record header) so that no
   * pushed chunk stays referenced: callers may then reuse their read buffers.
   */
  detach(): void {
    if (this.avail === 0) {
      this.chunks = [];
      this.first = 0;
      this.head = 0;
      return;
    }
    const copy = copyOf(this.view(this.avail)!);
    this.chunks = [copy];
    this.first = 0;
    this.head = 0;
  }

  /** Hands over every unread byte (as subarrays of the pushed chunks) and empties the queue. */
  takeAll(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = this.first; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      const part = i === this.first ? c.subarray(this.head) : c;
      if (part.length) out.push(part);
    }
    this.offset += this.avail;
    this.chunks = [];
    this.first = 0;
    this.head = 0;
    this.avail = 0;
    return out;
  }

  private dropFirst(): void {
    // Release the consumed chunk at once: a multi-GB stream must not stay reachable from here.
    this.chunks[this.first] = EMPTY;
    this.first++;
    this.head = 0;
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first > 64 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}

/** A read position in a finished buffer whose first byte sits at absolute offset `base`. */
export class Cursor implements ByteSource {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly base: number,
    /** Bytes past `limit` are not part of what is being walked (e.g. the vmdesc). */
    readonly limit: number = buf.length,
  ) {}

  get offset(): number {
    return this.base + this.pos;
  }
  get available(): number {
    return this.limit - this.pos;
  }
  hi = 0;
  lo = 0;
  contiguous(): { bytes: Uint8Array; start: number; end: number } {
    return { bytes: this.buf, start: this.pos, end: this.limit };
  }
  peek64(): boolean {
    if (this.limit - this.pos < 8) return false;
    this.hi = be32(this.buf, this.pos);
    this.lo = be32(this.buf, this.pos + 4);
    return true;
  }
  view(n: number): Uint8Array | null {
    return n <= this.limit - this.pos ? this.buf.subarray(this.pos, this.pos + n) : null;
  }
  advance(n: number): void {
    this.pos += n;
  }

  /** Requires n more bytes; the refusal says what was being read. */
  need(n: number, what: string): void {
    if (n > this.limit - this.pos) {
      throw malformed(this.base + this.limit, `stream ends inside ${what} (needs ${n} bytes from byte ${this.offset})`);
    }
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = be32(this.buf, this.pos);
    this.pos += 4;
    return v;
  }
  str(len: number, what: string): string {
    this.need(len, what);
    const s = ascii(this.buf, this.pos, len);
    this.pos += len;
    return s;
  }
  skip(n: number, what: string): void {
    this.need(n, what);
    this.pos += n;
  }
}
