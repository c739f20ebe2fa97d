import { stream } from './helpers';
import { readStream } from '../../../domain/qemu-stream';

/**
 * A legitimate stream with an arbitrarily large RAM section, generated chunk by chunk (never whole):
 * the header + configuration and the device tail come from the aarch64-max-smp2 fixture; the RAM
 * section in between is synthetic (one block "mach-virt.ram", PART sections of PAGE records).
 */
export interface SyntheticOptions {
  ramBytes: number; // bytes of pages to send (multiple of 4096)
  chunkSize?: number;
  pagesPerPart?: number;
  /** Cycle PAGE, ZERO, XBZRLE and COMPRESS_PAGE records instead of only PAGE. */
  mixed?: boolean;
}

const PAGE = 4096;
const BLOCK = 'mach-virt.ram';

function fixtureParts(): { head: Buffer; tail: Buffer } {
  const s = stream('aarch64-max-smp2');
  const info = readStream([s]);
  const firstDevice = info.sections.find((x) => x.kind === 'full')!.offset;
  return { head: s.subarray(0, info.sections[0]!.offset), tail: s.subarray(firstDevice) };
}

class ChunkWriter {
  private buf: Buffer;
  private pos = 0;
  readonly ready: Buffer[] = [];
  constructor(private readonly size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  write(b: Uint8Array): void {
    let i = 0;
    while (i < b.length) {
      const n = Math.min(b.length - i, this.size - this.pos);
      this.buf.set(b.subarray(i, i + n), this.pos);
      this.pos += n;
      i += n;
      if (this.pos === this.size) this.flush();
    }
  }
  flush(): void {
    if (this.pos === 0) return;
    this.ready.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(this.size); // fresh memory per chunk, like a file read
    this.pos = 0;
  }
}

function be64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}
function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}
const footer = Buffer.from([0x7e, 0, 0, 0, 2]);
const blockName = Buffer.concat([Buffer.from([BLOCK.length]), Buffer.from(BLOCK, 'latin1')]);

export function* syntheticStream(opts: SyntheticOptions): Generator<Buffer> {
  const { head, tail } = fixtureParts();
  const total = opts.ramBytes + PAGE * 16;
  const w = new ChunkWriter(opts.chunkSize ?? 256 * 1024);
  const page = Buffer.alloc(PAGE);
  for (let i = 0; i < PAGE; i++) page[i] = (i * 131) & 0xff;
  w.write(head);
  // START: header, MEM_SIZE + block list, EOS, footer
  w.write(Buffer.concat([Buffer.from([0x01]), be32(2), Buffer.from([3]), Buffer.from('ram'), be32(0), be32(4)]));
  w.write(Buffer.concat([be64(total | 0x04), blockName, be64(total), be64(0x10), footer]));
  const pages = opts.ramBytes / PAGE;
  const perPart = opts.pagesPerPart ?? 8192;
  for (let p = 0; p < pages; p += perPart) {
    w.write(Buffer.concat([Buffer.from([0x02]), be32(2)]));
    for (let i = p; i < Math.min(pages, p + perPart); i++) {
      const cont = i === p ? 0 : 0x20;
      const kind = opts.mixed ? i % 4 : 0;
      const addr = i * PAGE;
      if (kind === 0) w.write(be64(addr | 0x08 | cont));
      else if (kind === 1) w.write(be64(addr | 0x02 | cont));
      else if (kind === 2) w.write(be64(addr | 0x40 | cont));
      else w.write(be64(addr | 0x100 | cont));
      if (!cont) w.write(blockName);
      if (kind === 0) w.write(page);
      else if (kind === 1) w.write(Buffer.from([0]));
      else if (kind === 2) w.write(Buffer.concat([Buffer.from([1, 0, 10]), page.subarray(0, 10)]));
      else w.write(Buffer.concat([be32(20), page.subarray(0, 20)]));
      if (w.ready.length) yield* w.ready.splice(0);
    }
    w.write(Buffer.concat([be64(0x10), footer]));
  }
  w.write(Buffer.concat([Buffer.from([0x03]), be32(2), be64(0x10), footer]));
  w.write(tail);
  w.flush();
  yield* w.ready.splice(0);
}
