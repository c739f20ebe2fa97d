import { DomainError } from '../../../domain/errors';
import { readStream, rewriteStream, StreamRewriter } from '../../../domain/qemu-stream';
import { chunked, concat, manifest, stream } from './helpers';

const TPIDR_EL0 = 0x603000000013de82n;

describe('StreamRewriter', () => {
  it.each(manifest().fixtures.map((f) => f.name))('is byte-identical on identity for %s', (name) => {
    const input = stream(name);
    const { output, info } = rewriteStream(chunked(input, [65536]), (_i, _ix, v) => v);
    expect(concat(output).equals(input)).toBe(true);
    expect(info.cpus.length).toBeGreaterThan(0);
  });

  it('changes exactly the 8 value bytes of one register of one vCPU', () => {
    const input = stream('aarch64-max-smp2');
    const before = readStream([input]);
    const cpu1 = before.cpus.find((c) => c.instance === 1)!;
    const k = cpu1.indexes.indexOf(TPIDR_EL0);
    expect(k).toBeGreaterThan(0);
    const seen: number[] = [];
    const { output } = rewriteStream(chunked(input, [4000, 77, 123456]), (instance, indexes, values) => {
      seen.push(instance);
      expect(indexes).toEqual(before.cpus.find((c) => c.instance === instance)!.indexes);
      if (instance === 1) values[k] = 0x1122334455667788n;
      return values;
    });
    expect(seen).toEqual([0, 1]);
    const out = concat(output);
    expect(out.length).toBe(input.length);
    const diff: number[] = [];
    for (let i = 0; i < input.length; i++) if (input[i] !== out[i]) diff.push(i);
    const at = cpu1.blockOffset + 4 + 8 * cpu1.n + 8 * k;
    expect(diff.length).toBeGreaterThan(0);
    expect(diff[0]).toBeGreaterThanOrEqual(at);
    expect(diff[diff.length - 1]).toBeLessThan(at + 8);
    expect(out.readBigUInt64BE(at)).toBe(0x1122334455667788n);
    const after = readStream([out]);
    expect(after.cpus[1]!.values[k]).toBe(0x1122334455667788n);
    expect(after.cpus[0]!.values).toEqual(before.cpus[0]!.values);
  });

  it('passes RAM through before end() and holds only the device tail', () => {
    const input = stream('aarch64-max-smp2');
    const info = readStream([input]);
    const rw = new StreamRewriter((_i, _x, v) => v);
    let early = 0;
    for (const c of chunked(input, [8192])) for (const o of rw.push(c)) early += o.length;
    const firstDevice = info.sections.find((s) => s.kind === 'full')!.offset;
    expect(early).toBe(firstDevice);
    const rest = rw.end();
    expect(early + rest.reduce((n, o) => n + o.length, 0)).toBe(input.length);
  });

  it('propagates a DomainError thrown by the callback', () => {
    const refuse = (): BigUint64Array => {
      throw new DomainError('blob-rejected', 'no');
    };
    expect(() => rewriteStream([stream('arm-cortex-a7')], refuse)).toThrow(DomainError);
  });

  it('refuses a callback result of the wrong length', () => {
    let err: unknown;
    try {
      rewriteStream([stream('arm-cortex-a7')], () => new BigUint64Array(3));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).kind).toBe('invalid-value');
  });
});
