import { DomainError } from '../errors';
import { ByteQueue, Cursor, be16, be32, ascii, copyOf, malformed } from './bytes';
import { StreamConfig, tryReadConfigHead, tryReadConfigSubsection } from './config-section';
import {
  ARM_DEFAULT_PAGE_BITS,
  CMD_POSTCOPY_ADVISE,
  COMMAND,
  CONFIGURATION,
  DEFAULT_MAX_DEVICE_BYTES,
  QEVM_MAGIC,
  SECTION_FOOTER,
  SEC_END,
  SEC_EOF,
  SEC_FULL,
  SEC_PART,
  SEC_START,
  STREAM_VERSION,
  VMDESCRIPTION,
  hex,
} from './constants';
import { walkTail } from './device-walk';
import { RamParser } from './ram';
import type { CpuCpregBlock, SectionInfo, StreamInfo } from './types';
import { Vmdesc, findVmdescAtEnd, parseVmdesc } from './vmdesc';

export interface ReaderOptions {
  /** Refuse streams whose device state (everything after RAM) exceeds this; default 64 MiB. */
  maxDeviceBytes?: number;
}

/** What `finish` hands the rewriter besides the summary: the buffered device tail. */
export interface Finished {
  info: StreamInfo;
  /** The bytes from the first device section to the end of the stream (vmdesc included), or null. */
  tail: Uint8Array | null;
  tailStart: number;
}

type Phase =
  | 'magic'
  | 'config-type'
  | 'config-head'
  | 'config-sub'
  | 'section'
  | 'ram'
  | 'footer'
  | 'vmdesc-head'
  | 'vmdesc-body'
  | 'done'
  | 'tail';

/**
 * Incremental push parser of a QEMU 7.2 migration stream. Push chunks in any sizes; `end()`
 * returns the summary or throws DomainError('malformed-blob', "at byte N: …").
 * No pushed chunk is referenced after push() returns (RAM is skipped in place; a partial header
 * and the device tail are copied), so callers may reuse their read buffers.
 */
export class StreamReader {
  private readonly q = new ByteQueue();
  private readonly maxDeviceBytes: number;
  private phase: Phase = 'magic';
  private failure: DomainError | undefined;
  private ended = false;
  private total = 0;

  private readonly cfg: StreamConfig = { machine: '', capabilities: [] };
  private hasConfig = false;
  private pageSize = 1 << ARM_DEFAULT_PAGE_BITS;
  private ram: RamParser | undefined;
  private readonly idstrs = new Map<number, string>();
  private readonly sections: SectionInfo[] = [];
  private partSections = 0;
  private footerId = 0;
  private footerIdstr = '';

  private tail: Uint8Array[] = [];
  private tailBytes = 0;
  private tailStart = -1;

  private eofOffset = -1;
  private vmdescOffset = -1;
  private vmdescJson: Uint8Array | undefined;
  private vmdescFilled = 0;

  constructor(opts: ReaderOptions = {}) {
    this.maxDeviceBytes = opts.maxDeviceBytes ?? DEFAULT_MAX_DEVICE_BYTES;
  }

  /** Bytes received so far. */
  get bytesIn(): number {
    return this.total;
  }

  /**
   * Every byte before this offset has been parsed and is not device state: a rewriter may emit it
   * unchanged. Stops at the first device section (the start of the buffered tail).
   */
  get passThroughEnd(): number {
    return this.tailStart >= 0 ? this.tailStart : this.q.offset;
  }
  get tailStarted(): boolean {
    return this.tailStart >= 0;
  }

  push(chunk: Uint8Array): void {
    if (this.failure) throw this.failure;
    if (this.ended) throw new Error('StreamReader.push after end()');
    this.total += chunk.length;
    try {
      if (this.phase === 'tail') {
        this.addTail([chunk]);
        return;
      }
      this.q.push(chunk);
      while (this.step()) {
        /* keep parsing while whole steps are available */
      }
      if (!this.tailStarted) this.q.detach();
    } catch (e) {
      throw this.fail(e);
    }
  }

  end(): StreamInfo {
    return this.finish().info;
  }

  finish(): Finished {
    if (this.failure) throw this.failure;
    if (this.ended) throw new Error('StreamReader.end called twice');
    this.ended = true;
    try {
      if (this.phase === 'tail') return this.finishTail();
      if (this.phase !== 'done') throw malformed(this.total, `stream ends inside ${this.describe()}`);
      const vmdesc = parseVmdesc(this.vmdescJson!, this.vmdescOffset + 5);
      this.checkPageSize(vmdesc);
      if (vmdesc.devices.length) {
        throw malformed(
          this.eofOffset,
          `EOF without device sections, but the vmdesc lists ${vmdesc.devices.length} devices`,
        );
      }
      return { info: this.info(vmdesc, []), tail: null, tailStart: -1 };
    } catch (e) {
      throw this.fail(e);
    }
  }

  private fail(e: unknown): unknown {
    if (e instanceof DomainError) this.failure = e;
    return e;
  }

  private describe(): string {
    switch (this.phase) {
      case 'magic':
        return 'the stream header (expected magic QEVM 0x5145564d + be32 version 3)';
      case 'config-type':
      case 'config-head':
      case 'config-sub':
        return 'the configuration section';
      case 'section':
        return this.q.available ? 'a section header' : 'the section list (expected a section type byte or EOF 0x00)';
      case 'ram':
        return this.ram!.describe();
      case 'footer':
        return `the footer of section "${this.footerIdstr}" (expected 0x7e + be32 ${this.footerId})`;
      case 'vmdesc-head':
        return 'the vmdescription header (expected 0x06 + be32 length after EOF)';
      case 'vmdesc-body':
        return `the vmdesc JSON (${this.vmdescFilled} of ${this.vmdescJson!.length} bytes)`;
      default:
        return this.phase;
    }
  }

  /** One atomic parsing step; false when more input is needed. */
  private step(): boolean {
    const q = this.q;
    switch (this.phase) {
      case 'magic': {
        const v = q.view(8);
        if (!v) return false;
        const magic = be32(v, 0);
        if (magic !== QEVM_MAGIC)
          throw malformed(0, `expected magic QEVM (0x5145564d), got 0x${magic.toString(16).padStart(8, '0')}`);
        const version = be32(v, 4);
        if (version !== STREAM_VERSION) throw malformed(4, `expected stream version 3, got ${version}`);
        q.advance(8);
        this.phase = 'config-type';
        return true;
      }
      case 'config-type': {
        const v = q.view(1);
        if (!v) return false;
        if (v[0] === CONFIGURATION) {
          q.advance(1);
          this.hasConfig = true;
          this.phase = 'config-head';
        } else {
          this.phase = 'section';
        }
        return true;
      }
      case 'config-head': {
        const name = tryReadConfigHead(q);
        if (name === null) return false;
        this.cfg.machine = name;
        this.phase = 'config-sub';
        return true;
      }
      case 'config-sub': {
        const r = tryReadConfigSubsection(q, this.cfg);
        if (r === null) return false;
        if (r === 'none') {
          this.pageSize = 1 << (this.cfg.targetPageBits ?? ARM_DEFAULT_PAGE_BITS);
          this.phase = 'section';
        }
        return true;
      }
      case 'section':
        return this.sectionHeader();
      case 'ram':
        if (this.ram!.run(q) === 'more') return false;
        this.phase = 'footer';
        return true;
      case 'footer': {
        const v = q.view(5);
        if (!v) return false;
        if (v[0] !== SECTION_FOOTER) {
          throw malformed(q.offset, `expected section footer 0x7e for "${this.footerIdstr}", got ${hex(v[0]!)}`);
        }
        const id = be32(v, 1);
        if (id !== this.footerId)
          throw malformed(q.offset + 1, `section footer id ${id}, expected ${this.footerId} ("${this.footerIdstr}")`);
        q.advance(5);
        this.phase = 'section';
        return true;
      }
      case 'vmdesc-head': {
        const v = q.view(5);
        if (!v) return false;
        if (v[0] !== VMDESCRIPTION)
          throw malformed(q.offset, `expected vmdescription 0x06 after EOF, got ${hex(v[0]!)}`);
        const len = be32(v, 1);
        if (len > this.maxDeviceBytes)
          throw malformed(q.offset + 1, `vmdesc length ${len} exceeds the ${this.maxDeviceBytes}-byte limit`);
        this.vmdescOffset = q.offset;
        q.advance(5);
        this.vmdescJson = new Uint8Array(len);
        this.phase = len ? 'vmdesc-body' : 'done';
        return true;
      }
      case 'vmdesc-body': {
        const json = this.vmdescJson!;
        const n = Math.min(json.length - this.vmdescFilled, q.available);
        if (n === 0) return false;
        json.set(q.view(n)!, this.vmdescFilled);
        q.advance(n);
        this.vmdescFilled += n;
        if (this.vmdescFilled === json.length) this.phase = 'done';
        return true;
      }
      case 'done':
        if (q.available)
          throw malformed(
            q.offset,
            `${q.available > 1 ? 'trailing bytes' : 'a trailing byte'} after the vmdesc (it must end the stream)`,
          );
        return false;
      case 'tail':
        return false;
    }
  }

  private sectionHeader(): boolean {
    const q = this.q;
    const at = q.offset;
    const t = q.view(1);
    if (!t) return false;
    const type = t[0]!;
    switch (type) {
      case SEC_START:
      case SEC_FULL: {
        const h = q.view(6);
        if (!h) return false;
        const len = h[5]!;
        const v = q.view(6 + len + 8);
        if (!v) return false;
        const idstr = ascii(v, 6, len);
        if (idstr !== 'ram') {
          // Device sections are not self-delimiting: buffer from here to the end and walk them
          // once the vmdesc (which ends the stream) is known.
          this.tailStart = at;
          this.phase = 'tail';
          this.addTail(q.takeAll());
          return false;
        }
        const sectionId = be32(v, 1);
        const instanceId = be32(v, 6 + len);
        const version = be32(v, 10 + len);
        if (type !== SEC_START) throw malformed(at, '"ram" sent as a FULL section (expected START/PART/END)');
        if (this.ram) throw malformed(at, 'second START section for "ram"');
        this.ram = new RamParser(this.pageSize, this.cfg.capabilities.includes('x-ignore-shared'));
        this.idstrs.set(sectionId, idstr);
        this.sections.push({ kind: 'start', sectionId, idstr, instanceId, version, offset: at });
        q.advance(6 + len + 8);
        this.enterRam(sectionId, idstr);
        return true;
      }
      case SEC_PART:
      case SEC_END: {
        const v = q.view(5);
        if (!v) return false;
        const sectionId = be32(v, 1);
        const idstr = this.idstrs.get(sectionId);
        if (idstr !== 'ram')
          throw malformed(at + 1, `PART/END for section id ${sectionId}, which no START section opened`);
        q.advance(5);
        this.partSections++;
        this.enterRam(sectionId, idstr);
        return true;
      }
      case COMMAND: {
        const h = q.view(5);
        if (!h) return false;
        const cmd = be16(h, 1);
        const len = be16(h, 3);
        if (cmd === CMD_POSTCOPY_ADVISE)
          throw malformed(at, 'postcopy streams are not supported (POSTCOPY_ADVISE command)');
        if (!q.view(5 + len)) return false;
        q.advance(5 + len);
        return true;
      }
      case SEC_EOF:
        this.eofOffset = at;
        q.advance(1);
        this.phase = 'vmdesc-head';
        return true;
      default:
        throw malformed(at, `unknown section type ${hex(type)} (expected 0x00-0x04 or 0x08)`);
    }
  }

  private enterRam(sectionId: number, idstr: string): void {
    this.footerId = sectionId;
    this.footerIdstr = idstr;
    this.phase = 'ram';
  }

  private addTail(parts: Uint8Array[]): void {
    for (const p of parts) {
      this.tail.push(copyOf(p)); // the caller may reuse its buffer (the tail is small)
      this.tailBytes += p.length;
    }
    if (this.tailBytes > this.maxDeviceBytes) {
      throw malformed(
        this.tailStart + this.maxDeviceBytes,
        `device state after byte ${this.tailStart} exceeds the ${this.maxDeviceBytes}-byte limit`,
      );
    }
  }

  private finishTail(): Finished {
    const buf = new Uint8Array(this.tailBytes);
    let o = 0;
    for (const p of this.tail) {
      buf.set(p, o);
      o += p.length;
    }
    this.tail = [];
    const p = findVmdescAtEnd(buf);
    if (p < 0) {
      throw malformed(
        this.total,
        'stream ends without a vmdescription (0x06 + be32 length + JSON ending at end of stream) after the device sections',
      );
    }
    this.vmdescOffset = this.tailStart + p;
    const vmdesc = parseVmdesc(buf.subarray(p + 5), this.vmdescOffset + 5);
    this.checkPageSize(vmdesc);
    const cpus: CpuCpregBlock[] = [];
    const ctx = { vmdesc, idstrs: this.idstrs, ram: this.ram, sections: this.sections, cpus, partSections: 0 };
    this.eofOffset = walkTail(new Cursor(buf, this.tailStart, p), ctx);
    this.partSections += ctx.partSections;
    return { info: this.info(vmdesc, cpus), tail: buf, tailStart: this.tailStart };
  }

  private checkPageSize(vmdesc: Vmdesc): void {
    if (vmdesc.page_size !== this.pageSize) {
      throw malformed(
        this.vmdescOffset + 5,
        `vmdesc page_size ${vmdesc.page_size} disagrees with the configuration's ${this.pageSize}`,
      );
    }
  }

  private info(vmdesc: Vmdesc, cpus: CpuCpregBlock[]): StreamInfo {
    return {
      machine: this.hasConfig ? this.cfg.machine : null,
      pageSize: this.pageSize,
      targetPageBits: this.cfg.targetPageBits,
      capabilities: this.cfg.capabilities,
      totalBytes: this.total,
      sections: this.sections,
      partSections: this.partSections,
      ramBlocks: this.ram?.blocks ?? [],
      ramPages: this.ram?.pages ?? 0,
      ramZeroPages: this.ram?.zeroPages ?? 0,
      cpus,
      vmdesc,
      eofOffset: this.eofOffset,
      vmdescOffset: this.vmdescOffset,
    };
  }
}

/** Convenience: parse a whole stream given as chunks. */
export function readStream(chunks: Iterable<Uint8Array>, opts?: ReaderOptions): StreamInfo {
  const r = new StreamReader(opts);
  for (const c of chunks) r.push(c);
  return r.end();
}

/** Convenience for Node streams / async generators. */
export async function readStreamAsync(chunks: AsyncIterable<Uint8Array>, opts?: ReaderOptions): Promise<StreamInfo> {
  const r = new StreamReader(opts);
  for await (const c of chunks) r.push(c);
  return r.end();
}
