import fc from 'fast-check';
import { readStream, rewriteStream, StreamInfo, StreamReader, StreamRewriter } from '../../../domain/qemu-stream';
import { chunked, concat, stream } from './helpers';

function summary(info: StreamInfo): unknown {
  return {
    machine: info.machine,
    pageSize: info.pageSize,
    sections: info.sections,
    ram: [info.ramBlocks, info.ramPages, info.ramZeroPages, info.partSections],
    cpus: info.cpus.map((c) => [c.instance, c.blockOffset, Buffer.from(c.block).toString('hex')]),
    eof: info.eofOffset,
    vmdesc: info.vmdescOffset,
  };
}

describe('chunking invariance', () => {
  const input = stream('aarch64-max-smp2');
  const whole = summary(readStream([input]));

  it('gives the same result fed one byte at a time', () => {
    expect(summary(readStream(chunked(input, [1])))).toEqual(whole);
  });

  it('gives the same result (and identical rewriter output) for random chunk sizes', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20000 }), { minLength: 1, maxLength: 30 }), (sizes) => {
        const chunks = chunked(input, sizes);
        expect(summary(readStream(chunks))).toEqual(whole);
        const { output } = rewriteStream(chunks, (_i, _x, v) => v);
        expect(concat(output).equals(input)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('arm streams too', () => {
    const a7 = stream('arm-cortex-a7');
    const expected = summary(readStream([a7]));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 10 }), (sizes) => {
        expect(summary(readStream(chunked(a7, sizes)))).toEqual(expected);
      }),
      { numRuns: 15 },
    );
  });

  it('lets callers reuse their read buffer after each push (the reader keeps no views of it)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70000 }), (size) => {
        const r = new StreamReader();
        const buf = Buffer.alloc(size);
        for (let i = 0; i < input.length; i += size) {
          const n = input.copy(buf, 0, i, i + size);
          r.push(buf.subarray(0, n));
          buf.fill(0xee); // clobber it, as the next read would
        }
        expect(summary(r.end())).toEqual(whole);
      }),
      { numRuns: 25 },
    );
  });

  it('lets rewriter callers reuse their read buffer once the output of each push is written', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70000 }), (size) => {
        const rw = new StreamRewriter((_i, _x, v) => v);
        const buf = Buffer.alloc(size);
        const out: Buffer[] = [];
        for (let i = 0; i < input.length; i += size) {
          const n = input.copy(buf, 0, i, i + size);
          for (const o of rw.push(buf.subarray(0, n))) out.push(Buffer.from(o)); // "write it out"
          buf.fill(0xee);
        }
        for (const o of rw.end()) out.push(Buffer.from(o));
        expect(Buffer.concat(out).equals(input)).toBe(true);
      }),
      { numRuns: 25 },
    );
  });
});
