import { createHash } from 'node:crypto';
import { readStream } from '../../../domain/qemu-stream';
import { fixtureFile, manifest, stream } from './helpers';

const { fixtures } = manifest();

describe('real QEMU 7.2 and 10.0 fixture streams', () => {
  it('has the fixture set the script promises', () => {
    const names = fixtures.map((f) => f.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'aarch64-max-smp2',
        'aarch64-cortex-a57',
        'aarch64-cortex-a53',
        'arm-cortex-a15',
        'arm-cortex-a7',
        'q10-aarch64-cortex-a710-smp2',
        'q10-aarch64-neoverse-n2-smp2',
      ]),
    );
    expect(manifest().qemu['7.2']).toMatch(/^QEMU emulator version 7\.2\./);
    expect(manifest().qemu['10.0']).toMatch(/^QEMU emulator version 10\.0\./);
    for (const q of ['7.2', '10.0'] as const) {
      const mine = fixtures.filter((f) => f.qemu === q);
      // both binaries, idle and guest-ran, -smp 2
      expect(new Set(mine.map((f) => f.binary))).toEqual(new Set(['qemu-system-aarch64', 'qemu-system-arm']));
      for (const bin of ['qemu-system-aarch64', 'qemu-system-arm'])
        expect(new Set(mine.filter((f) => f.binary === bin).map((f) => f.guest))).toEqual(new Set(['idle', 'ran']));
      expect(mine.some((f) => f.smp === 2)).toBe(true);
    }
    const models10 = new Set(fixtures.filter((f) => f.qemu === '10.0').map((f) => f.cpu));
    expect(models10.size).toBeGreaterThanOrEqual(6);
    expect([...models10]).toEqual(expect.arrayContaining(['cortex-a710', 'neoverse-n2']));
  });

  describe.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, fx) => {
    const info = readStream([stream(fx.name)]);

    it(`parses, with the machine and page size of a virt-${fx.qemu} stream`, () => {
      expect(info.machine).toBe(`virt-${fx.qemu}`);
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

  it('QEMU 10.0 lists (measured): max 328, cortex-a710 357, neoverse-n2 332, neoverse-v1 311, cortex-a57 274; arm cortex-a15 208', () => {
    const n = (name: string) => readStream([stream(name)]).cpus.map((c) => c.n);
    expect(n('q10-aarch64-max-smp2')).toEqual([328, 328]);
    expect(n('q10-aarch64-cortex-a710-smp2')).toEqual([357, 357]);
    expect(n('q10-aarch64-neoverse-n2-smp2')).toEqual([332, 332]);
    expect(n('q10-aarch64-neoverse-v1-smp2')).toEqual([311, 311]);
    expect(n('q10-aarch64-cortex-a57-smp2')).toEqual([274, 274]);
    expect(n('q10-arm-cortex-a15-smp2')).toEqual([208, 208]);
  });

  it('QEMU 10.0 puts the cpreg block at body offset 568 of the cpu section too', () => {
    for (const f of fixtures.filter((x) => x.qemu === '10.0'))
      for (const c of readStream([stream(f.name)]).cpus) expect(c.blockOffset - c.sectionOffset).toBe(17 + 568);
  });

  it("QEMU 10.0's AArch32 views of CTR and CLIDR carry bits above 31 in their slots on cortex-a710 and neoverse-n2", () => {
    const CTR = 0x40200000200f0001n;
    const CLIDR = 0x40200000200f0009n;
    const slot = (name: string, id: bigint) =>
      readStream([stream(name)]).cpus.map((c) => c.values[c.indexes.indexOf(id)]);
    for (const name of ['q10-aarch64-cortex-a710-smp2', 'q10-aarch64-cortex-a710-smp2-ran']) {
      expect(slot(name, CTR)).toEqual([0x49444c004n, 0x49444c004n]);
      expect(slot(name, CLIDR)).toEqual([0x1482000023n, 0x1482000023n]);
    }
    expect(slot('q10-aarch64-neoverse-n2-smp2', CTR)).toEqual([0x4b444c004n, 0x4b444c004n]);
    expect(slot('q10-aarch64-neoverse-n2-smp2', CLIDR)).toEqual([0x1482000023n, 0x1482000023n]);
    // … and not on the others (their views fit 32 bits), nor anywhere in 7.2
    for (const f of fixtures.filter((x) => !/cortex-a710|neoverse-n2/.test(x.cpu)))
      for (const c of readStream([stream(f.name)]).cpus)
        for (let i = 0; i < c.n; i++) if (((c.indexes[i]! >> 52n) & 0xfn) < 3n) expect(c.values[i]! >> 32n).toBe(0n);
  });

  it('the guest-ran streams hold what the guest program wrote on vCPU 0 (TPIDR_EL0 = 0x1234, or DACR = 0x12)', () => {
    for (const f of fixtures.filter((x) => x.guest === 'ran')) {
      const [cpu0, cpu1] = readStream([stream(f.name)]).cpus;
      const id = f.binary === 'qemu-system-arm' ? 0x40200000200f1800n : 0x603000000013de82n;
      const want = f.binary === 'qemu-system-arm' ? 0x12n : 0x1234n;
      expect(cpu0!.values[cpu0!.indexes.indexOf(id)]).toBe(want);
      expect(cpu1!.values[cpu1!.indexes.indexOf(id)]).toBe(0n);
    }
  });

  it('counts 258 registers for cortex-a57 and 197 for cortex-a15 (measured)', () => {
    expect(readStream([stream('aarch64-cortex-a57')]).cpus[0]!.n).toBe(258);
    expect(readStream([stream('arm-cortex-a15')]).cpus[0]!.n).toBe(197);
  });
});
