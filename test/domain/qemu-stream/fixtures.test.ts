import { createHash } from 'node:crypto';
import { readStream } from '../../../domain/qemu-stream';
import { fixtureFile, manifest, stream } from './helpers';

const { fixtures } = manifest();

describe('real QEMU 7.2 fixture streams', () => {
  it('has the fixture set the script promises', () => {
    const names = fixtures.map((f) => f.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'aarch64-max-smp2',
        'aarch64-cortex-a57',
        'aarch64-cortex-a53',
        'arm-cortex-a15',
        'arm-cortex-a7',
      ]),
    );
    expect(new Set(fixtures.map((f) => f.binary))).toEqual(new Set(['qemu-system-aarch64', 'qemu-system-arm']));
  });

  describe.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, fx) => {
    const info = readStream([stream(fx.name)]);

    it('parses, with the machine and page size of a virt-7.2 stream', () => {
      expect(info.machine).toBe('virt-7.2');
      expect(info.pageSize).toBe(4096);
      expect(info.targetPageBits).toBe(12);
      expect(info.totalBytes).toBe(fx.streamBytes);
      expect(info.ramBlocks.map((b) => b.name)).toContain('mach-virt.ram');
      expect(info.vmdescOffset).toBe(info.eofOffset + 1);
    });

    it('finds one cpu section per vCPU, instance = cpu index, version 22', () => {
      expect(info.cpus.map((c) => c.instance)).toEqual([...Array(fx.smp).keys()]);
      for (const c of info.cpus) expect(c.version).toBe(22);
      expect(info.cpus.map((c) => ({ instance: c.instance, n: c.n }))).toEqual(
        fx.cpus.map((c) => ({ instance: c.instance, n: c.n })),
      );
    });

    it('gives each cpu a v22 block of 4 + 16N bytes whose N is the vmdesc array_len, ids strictly ascending', () => {
      for (const c of info.cpus) {
        const dev = info.vmdesc.devices.find((d) => d.name === 'cpu' && d.instance_id === c.instance)!;
        const idx = dev.fields.find((f) => f.name === 'cpreg_vmstate_indexes')!;
        expect(idx.array_len).toBe(c.n);
        expect(c.block.length).toBe(4 + 16 * c.n);
        expect(Buffer.from(c.block).readUInt32BE(0)).toBe(c.n);
        for (let i = 1; i < c.n; i++) expect(c.indexes[i]! > c.indexes[i - 1]!).toBe(true);
        // The block is where we say it is in the stream.
        expect(
          Buffer.from(stream(fx.name).subarray(c.blockOffset, c.blockOffset + c.block.length)).equals(
            Buffer.from(c.block),
          ),
        ).toBe(true);
      }
    });

    it('matches the committed .v22.bin blocks and their manifest hashes', () => {
      for (const m of fx.cpus) {
        const c = info.cpus.find((x) => x.instance === m.instance)!;
        const bin = fixtureFile(m.file);
        expect(Buffer.from(c.block).equals(bin)).toBe(true);
        expect(createHash('sha256').update(bin).digest('hex')).toBe(m.sha256);
        expect(c.blockOffset).toBe(m.blockOffset);
      }
    });
  });

  it('aarch64 -cpu max: 304 registers, first ids and DBGDIDR as in reference §7', () => {
    const info = readStream([stream('aarch64-max-smp2')]);
    for (const c of info.cpus) {
      expect(c.n).toBe(304);
      expect([...c.indexes.slice(0, 3)]).toEqual([0x40200000000f6800n, 0x40200000000f6801n, 0x40200000200e0000n]);
      expect(c.values[2]).toBe(0x3516d000n);
      // TPIDR_EL0 and ID_AA64MMFR0_EL1, used by the interop test, are in the list.
      expect(c.indexes).toContain(0x603000000013de82n);
      expect(c.indexes).toContain(0x603000000013c038n);
    }
    // Same first cpu section offset as the reference's smp 1 stream (RAM part identical).
    expect(info.cpus[0]!.sectionOffset).toBe(467796);
  });

  it('counts 258 registers for cortex-a57 and 197 for cortex-a15 (DOMAIN.md §4)', () => {
    expect(readStream([stream('aarch64-cortex-a57')]).cpus[0]!.n).toBe(258);
    expect(readStream([stream('arm-cortex-a15')]).cpus[0]!.n).toBe(197);
  });
});
