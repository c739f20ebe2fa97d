import fc from 'fast-check';
import { DomainError } from '../../../domain/errors';
import { readStream } from '../../../domain/qemu-stream';
import { chunked, stream } from './helpers';

const input = stream('aarch64-max-smp2');
const info = readStream([input]);
const firstDevice = info.sections.find((s) => s.kind === 'full')!.offset;
const cpu1 = info.cpus[1]!;

function refusal(b: Uint8Array, sizes: number[] = [b.length]): DomainError {
  try {
    readStream(chunked(b, sizes));
  } catch (e) {
    expect(e).toBeInstanceOf(DomainError);
    expect((e as DomainError).kind).toBe('malformed-blob');
    return e as DomainError;
  }
  throw new Error('stream was accepted');
}

function patched(edit: (b: Buffer) => void): Buffer {
  const b = Buffer.from(input);
  edit(b);
  return b;
}

describe('truncated streams are refused with the offset', () => {
  // Points inside every part: header, configuration, RAM START/PART records, a RAM zero record,
  // the RAM END footer, the device tail (cpu block), EOF and the vmdesc.
  const points = [
    0,
    1,
    4,
    7,
    8,
    9,
    20,
    45,
    60,
    61,
    70,
    78,
    200,
    252,
    5000,
    100000,
    467000,
    firstDevice - 3,
    firstDevice,
    firstDevice + 1,
    cpu1.blockOffset + 100,
    info.eofOffset,
    info.eofOffset + 1,
    info.eofOffset + 3,
    info.vmdescOffset + 5,
    input.length - 1,
  ];
  it.each(points)('at %i bytes', (k) => {
    expect(refusal(input.subarray(0, k)).message).toContain(`at byte ${k}:`);
  });

  it('at random points, in random chunkings', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: input.length - 1 }), fc.integer({ min: 1, max: 9000 }), (k, size) => {
        expect(refusal(input.subarray(0, k), [size]).message).toContain(`at byte ${k}:`);
      }),
      { numRuns: 60 },
    );
  });
});

describe('corrupt streams are refused', () => {
  it('bad magic', () => {
    expect(refusal(patched((b) => (b[1] = 0x46))).message).toMatch(/^at byte 0: expected magic QEVM/);
  });
  it('bad stream version', () => {
    expect(refusal(patched((b) => b.writeUInt32BE(2, 4))).message).toMatch(/^at byte 4: expected stream version 3/);
  });
  it('bad RAM section footer', () => {
    const at = firstDevice - 5;
    expect(refusal(patched((b) => (b[at] = 0x05))).message).toBe(
      `at byte ${at}: expected section footer 0x7e for "ram", got 0x05`,
    );
  });
  it('bad footer id', () => {
    expect(refusal(patched((b) => (b[firstDevice - 1] = 0x09))).message).toMatch(/section footer id 9, expected 2/);
  });
  it('bad device section footer (cpu 0)', () => {
    const at = cpu1.sectionOffset - 5;
    const message = refusal(patched((b) => (b[at] = 0x05))).message;
    expect(message).toContain(`at byte `);
    expect(message).toMatch(/0x05/);
  });
  it('a cpu section whose N disagrees with the vmdesc', () => {
    expect(refusal(patched((b) => b.writeUInt32BE(303, cpu1.blockOffset))).message).toMatch(
      /cpreg_vmstate_indexes .* does not follow cpreg_vmstate_array_len = 303/,
    );
  });
  it('bad vmdesc length', () => {
    const len = input.readUInt32BE(info.vmdescOffset + 1);
    expect(refusal(patched((b) => b.writeUInt32BE(len + 1, info.vmdescOffset + 1))).message).toMatch(
      /at byte \d+: stream ends without a vmdescription/,
    );
    expect(refusal(patched((b) => b.writeUInt32BE(len - 1, info.vmdescOffset + 1))).message).toMatch(/at byte \d+: /);
  });
  it('unknown section type (streaming part)', () => {
    expect(refusal(patched((b) => (b[firstDevice] = 0x09))).message).toBe(
      `at byte ${firstDevice}: unknown section type 0x09 (expected 0x00-0x04 or 0x08)`,
    );
  });
  it('unknown section type (device tail)', () => {
    const at = cpu1.sectionOffset;
    expect(refusal(patched((b) => (b[at] = 0x0a))).message).toBe(
      `at byte ${at}: unknown section type 0x0a (expected 0x00-0x04 or 0x08)`,
    );
  });
  it('unknown RAM flags', () => {
    // The RAM START section's first record (MEM_SIZE) begins right after its 17-byte header.
    const at = info.sections[0]!.offset + 17;
    expect(refusal(patched((b) => (b[at + 7] = 0x01))).message).toMatch(
      new RegExp(`^at byte ${at}: unknown combination of RAM flags`),
    );
  });
  it('unknown configuration subsection', () => {
    expect(refusal(patched((b) => (b[38] = 0x58))).message).toMatch(/^at byte 21: unknown configuration subsection/);
  });
  it('trailing bytes after the vmdesc', () => {
    expect(refusal(Buffer.concat([input, Buffer.from([0])])).message).toMatch(/^at byte \d+: /);
  });
  it('device state beyond the buffering limit', () => {
    expect(() => readStream([input], { maxDeviceBytes: 1000 })).toThrow(/exceeds the 1000-byte limit/);
  });
});
