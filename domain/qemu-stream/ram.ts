import { ByteSource, ascii, be16, be32, be64Number, malformed } from './bytes';
import {
  RAM_FLAG_COMPRESS_PAGE,
  RAM_FLAG_CONTINUE,
  RAM_FLAG_EOS,
  RAM_FLAG_HOOK,
  RAM_FLAG_MEM_SIZE,
  RAM_FLAG_PAGE,
  RAM_FLAG_XBZRLE,
  RAM_FLAG_ZERO,
  XBZRLE_ENCODING,
  hex,
} from './constants';

export interface RamBlock {
  name: string;
  length: number;
}

/** zlib's compressBound: the largest COMPRESS_PAGE payload QEMU accepts. */
function compressBound(n: number): number {
  return n + (n >>> 12) + (n >>> 14) + (n >>> 25) + 13;
}

/**
 * The records of the "ram" section (reference §6.6), across START/PART/END sections. Page payloads
 * are skipped by advancing the source — never copied, never accumulated — so memory stays flat.
 * `run` is resumable: 'more' means "push more bytes and call again".
 */
export class RamParser {
  readonly blocks: RamBlock[] = [];
  private byName = new Map<string, RamBlock>();
  private current: RamBlock | undefined;
  private skipLeft = 0;
  private skipWhat = '';
  private listLeft = 0; // bytes of RAM the MEM_SIZE block list still has to describe
  private inList = false;
  private readonly mask: number;
  pages = 0;
  zeroPages = 0;

  constructor(
    private readonly pageSize: number,
    private readonly ignoreShared: boolean,
  ) {
    this.mask = pageSize - 1;
  }

  /** For truncation messages: what the parser was in the middle of. */
  describe(): string {
    if (this.skipLeft > 0) return `${this.skipWhat} (${this.skipLeft} bytes missing)`;
    if (this.inList) return 'the RAM block list';
    return 'a RAM record (expected be64 page offset | flags, then its payload)';
  }

  /** Consumes records until EOS ('eos') or until the source cannot complete the next step ('more'). */
  run(src: ByteSource): 'eos' | 'more' {
    for (;;) {
      if (this.skipLeft > 0) {
        const n = Math.min(this.skipLeft, src.available);
        src.advance(n);
        this.skipLeft -= n;
        if (this.skipLeft > 0) return 'more';
      }
      if (this.inList) {
        if (!this.readBlockEntry(src)) return 'more';
        continue;
      }
      if (this.current && this.runOfPages(src)) continue;
      const at = src.offset;
      if (!src.peek64()) return 'more';
      const hi = src.hi;
      const lo = src.lo;
      const flags = lo & this.mask;
      const addr = hi * 0x100000000 + (lo - flags);
      const kind = flags & ~RAM_FLAG_CONTINUE;
      switch (kind) {
        case RAM_FLAG_EOS:
          src.advance(8);
          return 'eos';
        case RAM_FLAG_MEM_SIZE:
          if (this.blocks.length) throw malformed(at, 'second RAM MEM_SIZE record (block list already received)');
          if (hi >= 0x200000) throw malformed(at, 'RAM total size too large');
          src.advance(8);
          this.listLeft = addr;
          this.inList = addr > 0;
          continue;
        case RAM_FLAG_ZERO:
        case RAM_FLAG_PAGE:
        case RAM_FLAG_XBZRLE:
        case RAM_FLAG_COMPRESS_PAGE: {
          if (!this.readPageHeader(src, at, flags, kind, addr)) return 'more';
          continue;
        }
        default:
          if (flags & RAM_FLAG_HOOK) throw malformed(at, 'RAM_SAVE_FLAG_HOOK (RDMA) records are not supported');
          throw malformed(
            at,
            `unknown combination of RAM flags ${hex(flags)} (record 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')})`,
          );
      }
    }
  }

  /**
   * A run of whole PAGE or ZERO records that continue the current block, read straight from the
   * source's contiguous bytes (one advance for the run: a multi-GB stream is half a million
   * pages). The same checks as readPageHeader; the first record that is anything else, or does
   * not fit whole, is left to the general path, which reports it. True if it consumed any.
   */
  private runOfPages(src: ByteSource): boolean {
    const { bytes: b, start, end } = src.contiguous();
    const block = this.current!;
    const ps = this.pageSize;
    const mask = this.mask;
    let p = start;
    let pages = 0;
    let zeros = 0;
    for (;;) {
      if (p + 8 > end) break;
      const hi = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
      const lo = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
      const flags = lo & mask;
      const addr = hi * 0x100000000 + (lo - flags);
      if (addr + ps > block.length) break;
      if (flags === (RAM_FLAG_PAGE | RAM_FLAG_CONTINUE)) {
        if (p + 8 + ps > end) break;
        p += 8 + ps;
        pages++;
      } else if (flags === (RAM_FLAG_ZERO | RAM_FLAG_CONTINUE)) {
        if (p + 9 > end) break;
        p += 9;
        zeros++;
      } else break;
    }
    if (p === start) return false;
    src.advance(p - start);
    this.pages += pages;
    this.zeroPages += zeros;
    return true;
  }

  /** Header of a ZERO/PAGE/XBZRLE/COMPRESS_PAGE record; schedules the payload skip. Atomic. */
  private readPageHeader(src: ByteSource, at: number, flags: number, kind: number, addr: number): boolean {
    let len = 8;
    let block = this.current;
    if (!(flags & RAM_FLAG_CONTINUE)) {
      const b = src.view(9);
      if (!b) return false;
      const nameLen = b[8]!;
      const bn = src.view(9 + nameLen);
      if (!bn) return false;
      const name = ascii(bn, 9, nameLen);
      block = this.byName.get(name);
      if (!block) throw malformed(at + 9, `RAM page for unknown block "${name}"`);
      len = 9 + nameLen;
    } else if (!block) {
      throw malformed(at, 'RAM record with CONTINUE flag but no previous block');
    }
    if (addr + this.pageSize > block.length) {
      throw malformed(
        at,
        `RAM page offset 0x${addr.toString(16)} outside block "${block.name}" (length 0x${block.length.toString(16)})`,
      );
    }
    let payload: number;
    let what: string;
    if (kind === RAM_FLAG_ZERO) {
      payload = 1;
      what = 'a RAM zero-page fill byte';
      this.zeroPages++;
    } else if (kind === RAM_FLAG_PAGE) {
      payload = this.pageSize;
      what = `a RAM page (${this.pageSize} bytes from byte ${at + len})`;
      this.pages++;
    } else if (kind === RAM_FLAG_XBZRLE) {
      const b = src.view(len + 3);
      if (!b) return false;
      if (b[len] !== XBZRLE_ENCODING)
        throw malformed(at + len, `expected XBZRLE encoding byte 0x01, got ${hex(b[len]!)}`);
      payload = be16(b, len + 1);
      if (payload > this.pageSize)
        throw malformed(at + len + 1, `XBZRLE length ${payload} exceeds page size ${this.pageSize}`);
      len += 3;
      what = 'an XBZRLE page';
    } else {
      const b = src.view(len + 4);
      if (!b) return false;
      payload = be32(b, len);
      if (payload > compressBound(this.pageSize))
        throw malformed(at + len, `compressed page length ${payload} exceeds compressBound(${this.pageSize})`);
      len += 4;
      what = 'a compressed RAM page';
    }
    src.advance(len);
    this.current = block;
    this.skipLeft = payload;
    this.skipWhat = what;
    return true;
  }

  /** One entry of the MEM_SIZE block list: u8 len + idstr + be64 used_length [+ be64 addr]. */
  private readBlockEntry(src: ByteSource): boolean {
    const at = src.offset;
    const h = src.view(1);
    if (!h) return false;
    const nameLen = h[0]!;
    const need = 1 + nameLen + 8 + (this.ignoreShared ? 8 : 0);
    const b = src.view(need);
    if (!b) return false;
    const name = ascii(b, 1, nameLen);
    const length = be64Number(b, 1 + nameLen, at + 1 + nameLen, `RAM block "${name}" length`);
    if (length > this.listLeft) {
      throw malformed(
        at,
        `RAM block "${name}" length 0x${length.toString(16)} exceeds the remaining total 0x${this.listLeft.toString(16)}`,
      );
    }
    if (this.byName.has(name)) throw malformed(at, `RAM block "${name}" listed twice`);
    const block = { name, length };
    this.blocks.push(block);
    this.byName.set(name, block);
    this.listLeft -= length;
    this.inList = this.listLeft > 0;
    src.advance(need);
    return true;
  }
}
