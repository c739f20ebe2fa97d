import fc from 'fast-check';
import { layoutArrays, type CpregArrays } from '../../../domain/cpreg-arrays';
import { DomainError } from '../../../domain/errors';
import { convertStream, readStream, StreamConverter } from '../../../domain/qemu-stream';
import type { BlobFormat } from '../../../domain/vmstate/format';
import { arbId } from '../../helpers/arbitraries';
import { chunked, concat, manifest, stream } from './helpers';
import { allCpusAs, qemuJson, withCpuBlock } from './layouts';
import { syntheticStream } from './synthetic';

const names = manifest().fixtures.map((f) => f.name);
const convert = (b: Uint8Array, to: BlobFormat, sizes?: number[]) =>
  concat(convertStream(sizes ? chunked(b, sizes) : [b], to).output);

/** Arrays with any slot values (upper bits of narrow registers included), as QEMU holds them. */
function arbArrays(maxSizeField: number, maxLen: number): fc.Arbitrary<CpregArrays> {
  return fc.uniqueArray(arbId(maxSizeField), { maxLength: maxLen }).chain((ids) => {
    const a = layoutArrays(BigUint64Array.from(ids).sort());
    const m = a.cpregValues.length;
    return fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: m, maxLength: m }).map((slots) => {
      slots.forEach((v, j) => (a.cpregValues[j] = v));
      return a;
    });
  });
}

describe('the layout builders of the tests reproduce real QEMU streams', () => {
  it.each(names)(
    '%s: its own vmdesc re-serialised QEMU-style, and its blocks rebuilt as v22, are byte-identical',
    (name) => {
      const s = stream(name);
      const info = readStream([s]);
      const json = s.subarray(info.vmdescOffset + 5).toString('utf8');
      expect(qemuJson(JSON.parse(json))).toBe(json);
      expect(allCpusAs(s, 'v22').equals(s)).toBe(true);
    },
  );
});

describe.each(names)('convert %s', (name) => {
  const input = stream(name);
  const expectedV23 = allCpusAs(input, 'v23');

  it('to v23 gives exactly the stream a v23 QEMU writes for the same registers (built independently)', () => {
    const { output, info, convertedSections } = convertStream(chunked(input, [65536]), 'v23');
    expect(convertedSections).toBe(info.cpus.length);
    expect(concat(output).equals(expectedV23)).toBe(true);
  });

  it('v22 → v23 → v22 is byte-identical; converting to the layout it has is the identity', () => {
    const v23 = convert(input, 'v23');
    expect(convert(v23, 'v22').equals(input)).toBe(true);
    const same = convertStream([input], 'v22');
    expect(concat(same.output).equals(input)).toBe(true);
    expect(same.convertedSections).toBe(0);
    expect(convert(v23, 'v23').equals(v23)).toBe(true);
  });

  it('the v23 stream reads back with the same registers and values, every other byte unchanged', () => {
    const before = readStream([input]);
    const v23 = convert(input, 'v23');
    const after = readStream([v23]);
    expect(after.cpus.map((c) => [c.instance, c.version, c.format, c.n, c.m])).toEqual(
      before.cpus.map((c) => [c.instance, 23, 'v23', c.n, c.n]),
    );
    for (const [i, c] of after.cpus.entries()) {
      expect(c.indexes).toEqual(before.cpus[i]!.indexes);
      expect(c.values).toEqual(before.cpus[i]!.values);
      expect(Array.from(c.valueIndexes)).toEqual([...Array(c.n).keys()]);
    }
    // RAM and everything before the first cpu section is the same bytes
    const firstCpu = before.cpus[0]!.sectionOffset;
    expect(v23.subarray(0, firstCpu + 13).equals(input.subarray(0, firstCpu + 13))).toBe(true);
    expect(after.sections.map((s) => [s.idstr, s.instanceId, s.idstr === 'cpu' ? 23 : s.version])).toEqual(
      before.sections.map((s) => [s.idstr, s.instanceId, s.idstr === 'cpu' ? 23 : s.version]),
    );
  });

  const chunkingToo = ['aarch64-max-smp2', 'q10-aarch64-cortex-a710-smp2', 'q10-arm-cortex-a15-smp2-ran'];
  if (chunkingToo.includes(name))
    it('gives the same output for any chunking (property)', () => {
      const v23 = convert(input, 'v23');
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 30000 }), { minLength: 1, maxLength: 20 }), (sizes) => {
          expect(convert(input, 'v23', sizes).equals(v23)).toBe(true);
          expect(convert(v23, 'v22', sizes).equals(input)).toBe(true);
        }),
        { numRuns: 10 },
      );
    });
});

/**
 * The real aarch64-max-smp2 stream with its RAM replaced by an empty RAM section (synthetic.ts):
 * the same configuration and device tail, 50 KB instead of 500, for fast property runs.
 */
const small = concat([...syntheticStream({ ramBytes: 0 })]);

describe('random cpreg lists in a real stream (property)', () => {
  const base = small;
  const base23 = allCpusAs(base, 'v23');

  it('v22 ↔ v23 convert exactly to what a QEMU of the other layout writes, for any list (0, 1, many registers; raw slots)', () => {
    fc.assert(
      fc.property(arbArrays(3, 20), arbArrays(3, 3), (a, b) => {
        const v22 = withCpuBlock(withCpuBlock(base, 0, a, 'v22'), 1, b, 'v22');
        const v23 = withCpuBlock(withCpuBlock(base, 0, a, 'v23'), 1, b, 'v23');
        expect(convert(v22, 'v23').equals(v23)).toBe(true);
        expect(convert(v23, 'v22').equals(v22)).toBe(true);
        // a stream mixing both layouts converts too
        const mixed = withCpuBlock(withCpuBlock(base, 0, a, 'v23'), 1, b, 'v22');
        expect(convert(mixed, 'v22').equals(v22)).toBe(true);
        expect(convert(mixed, 'v23').equals(v23)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('v23 lists with registers wider than 8 bytes read back exactly; to v22 is refused naming every one', () => {
    fc.assert(
      fc.property(arbArrays(8, 12), (a) => {
        const v23 = withCpuBlock(base23, 1, a, 'v23');
        const cpu = readStream([v23]).cpus[1]!;
        expect(cpu.format).toBe('v23');
        expect(cpu.indexes).toEqual(a.cpregIndexes);
        expect(cpu.values).toEqual(a.cpregValues);
        expect(cpu.valueIndexes).toEqual(a.cpregValueIndexes);
        const wide = Array.from(a.cpregIndexes).filter((id) => ((id >> 52n) & 0xfn) > 3n);
        if (wide.length === 0) {
          expect(convert(v23, 'v22').equals(withCpuBlock(base, 1, a, 'v22'))).toBe(true);
          return;
        }
        let err: unknown;
        try {
          convert(v23, 'v22');
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(DomainError);
        expect((err as DomainError).kind).toBe('not-representable');
        expect((err as DomainError).registers).toEqual(wide);
        expect((err as DomainError).message).toContain('cpu 1: 0x');
        // and the stream converts to v23 as it is (nothing to do)
        expect(convert(v23, 'v23').equals(v23)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});

describe('refusals', () => {
  const input = small;
  const info = readStream([input]);
  const cpu = info.cpus[0]!;

  it('a v23 section whose value indexes disagree with the sizes is refused, naming the vCPU', () => {
    const v23 = convert(input, 'v23');
    const at = cpu.blockOffset + 8 + 16 * cpu.n + 4 * 5; // value index of register 5
    const bad = Buffer.from(v23);
    bad.writeUInt32BE(7, at);
    expect(() => convert(bad, 'v22')).toThrow(
      expect.objectContaining({
        kind: 'malformed-blob',
        message: expect.stringMatching(/^cpu 0 \(block at byte \d+\): value indexes/),
      }),
    );
  });

  it('a v22 block with unsorted ids is refused (the converter never guesses)', () => {
    const bad = Buffer.from(input);
    const a = cpu.blockOffset + 4;
    const first = Buffer.from(bad.subarray(a, a + 8));
    bad.copy(bad, a, a + 8, a + 16);
    first.copy(bad, a + 8);
    expect(() => convert(bad, 'v23')).toThrow(expect.objectContaining({ kind: 'malformed-blob' }));
  });

  it('a malformed stream is refused as the reader refuses it', () => {
    expect(() => convert(input.subarray(0, input.length - 1), 'v23')).toThrow(
      expect.objectContaining({ kind: 'malformed-blob' }),
    );
  });

  it('an unknown target is refused', () => {
    expect(() => new StreamConverter('v24' as BlobFormat)).toThrow(DomainError);
  });

  it('a v23 entry not as QEMU writes it (another type for M) is refused to v22: it could not come back exactly', () => {
    const v23 = Buffer.from(convert(input, 'v23'));
    const name = v23.indexOf('"cpreg_vmstate_value_array_len"');
    const type = v23.indexOf('int32 le', name);
    expect(name).toBeGreaterThan(0);
    expect(type - name).toBeLessThan(60);
    v23.write('int32 be', type, 'latin1'); // same length: the vmdesc's length field still holds
    expect(() => convert(v23, 'v22')).toThrow(/not as QEMU writes them/);
  });

  it('fuzz: a corrupted device tail is refused with a DomainError or converts reversibly', () => {
    const tailStart = info.sections.find((s) => s.kind === 'full')!.offset;
    fc.assert(
      fc.property(
        fc.integer({ min: tailStart, max: input.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        fc.constantFrom<BlobFormat>('v22', 'v23'),
        (at, xor, from) => {
          const src = Buffer.from(from === 'v22' ? input : convert(input, 'v23'));
          if (at >= src.length) return;
          src[at] = src[at]! ^ xor;
          const to: BlobFormat = from === 'v22' ? 'v23' : 'v22';
          let out: Buffer;
          try {
            out = convert(src, to);
          } catch (e) {
            expect(e).toBeInstanceOf(DomainError);
            return;
          }
          // accepted: the other way back gives the corrupted input exactly
          expect(convert(out, from).equals(src)).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });
});
