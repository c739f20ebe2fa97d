import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DomainError } from '../../../domain/errors';
import { readStream, StreamConverter, StreamReader, StreamRewriter } from '../../../domain/qemu-stream';
import { chunked, concat } from './helpers';
import { syntheticStream } from './synthetic';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Retained memory: JS heap plus ArrayBuffer backing stores (where chunks live), after a full GC. */
function retained(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const MB = 1024 * 1024;

describe('large synthetic streams', () => {
  it('reads 200 MB of RAM pages with flat memory', () => {
    const base = retained();
    let peak = 0;
    let bytes = 0;
    let parseNs = 0n;
    const r = new StreamReader();
    for (const chunk of syntheticStream({ ramBytes: 200 * MB })) {
      const t = process.hrtime.bigint();
      r.push(chunk);
      parseNs += process.hrtime.bigint() - t;
      bytes += chunk.length;
      if (bytes % (16 * MB) < chunk.length) peak = Math.max(peak, retained() - base);
    }
    const info = r.end();
    peak = Math.max(peak, retained() - base);
    expect(info.ramPages).toBe((200 * MB) / 4096);
    expect(info.cpus.map((c) => c.n)).toEqual([304, 304]);
    expect(peak).toBeLessThan(50 * MB);
    const mbps = bytes / MB / (Number(parseNs) / 1e9);
    process.stderr.write(
      `qemu-stream reader: ${(bytes / MB).toFixed(0)} MB in memory chunks, ${mbps.toFixed(0)} MB/s parse, peak retained growth ${(peak / MB).toFixed(1)} MB\n`,
    );
  });

  it('rewrites 200 MB with flat memory, passing RAM through as it comes', () => {
    const base = retained();
    let peak = 0;
    let inBytes = 0;
    let outBytes = 0;
    const rw = new StreamRewriter((_i, _x, v) => v);
    for (const chunk of syntheticStream({ ramBytes: 200 * MB })) {
      inBytes += chunk.length;
      for (const o of rw.push(chunk)) outBytes += o.length;
      // Output trails input by at most one partly parsed chunk while RAM is streaming.
      if (inBytes < 190 * MB) expect(inBytes - outBytes).toBeLessThanOrEqual(chunk.length + 4200);
      if (inBytes % (16 * MB) < chunk.length) peak = Math.max(peak, retained() - base);
    }
    for (const o of rw.end()) outBytes += o.length;
    expect(outBytes).toBe(inBytes);
    expect(peak).toBeLessThan(50 * MB);
  });

  it('converts 200 MB to v23 with flat memory, passing RAM through as it comes', () => {
    const base = retained();
    let peak = 0;
    let inBytes = 0;
    let outBytes = 0;
    const conv = new StreamConverter('v23');
    const t = process.hrtime.bigint();
    for (const chunk of syntheticStream({ ramBytes: 200 * MB })) {
      inBytes += chunk.length;
      for (const o of conv.push(chunk)) outBytes += o.length;
      if (inBytes < 190 * MB) expect(inBytes - outBytes).toBeLessThanOrEqual(chunk.length + 4200);
      if (inBytes % (16 * MB) < chunk.length) peak = Math.max(peak, retained() - base);
    }
    for (const o of conv.end()) outBytes += o.length;
    const secs = Number(process.hrtime.bigint() - t) / 1e9;
    expect(conv.convertedSections).toBe(2);
    // two vCPUs of 304 registers: 2 × (4 + 4 × 304) bytes more, and the longer vmdesc
    expect(outBytes - inBytes).toBeGreaterThan(2 * (4 + 4 * 304));
    expect(peak).toBeLessThan(50 * MB);
    process.stderr.write(
      `qemu-stream converter: ${(inBytes / MB).toFixed(0)} MB at ${(inBytes / MB / secs).toFixed(0)} MB/s (with generation), peak retained growth ${(peak / MB).toFixed(1)} MB\n`,
    );
  });

  it('parses ZERO, XBZRLE and COMPRESS_PAGE records, in any chunking', () => {
    const whole = concat([...syntheticStream({ ramBytes: 4 * MB, mixed: true, pagesPerPart: 300 })]);
    const info = readStream([whole]);
    expect(info.cpus.length).toBe(2);
    expect(readStream(chunked(whole, [1, 3, 4097, 11])).cpus.map((c) => c.blockOffset)).toEqual(
      info.cpus.map((c) => c.blockOffset),
    );
  });

  it('refuses a stream cut inside a RAM page, naming the offset and the missing bytes', () => {
    const whole = concat([...syntheticStream({ ramBytes: 1 * MB })]);
    // head 61 + START 60 + PART header 5 + first record header 22 = first payload at 148
    let err: unknown;
    try {
      readStream(chunked(whole.subarray(0, 248), [50]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as Error).message).toBe(
      'at byte 248: stream ends inside a RAM page (4096 bytes from byte 148) (3996 bytes missing)',
    );
  });

  it('refuses a page outside its RAM block', () => {
    const whole = concat([...syntheticStream({ ramBytes: 1 * MB })]);
    whole[148 - 22 + 3] = 0x7f; // the first PAGE record's address: far beyond the block
    expect(() => readStream([whole])).toThrow(
      /^at byte 126: RAM page offset 0x7f00000000 outside block "mach-virt.ram"/,
    );
  });
});
