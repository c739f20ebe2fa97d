import { layoutArrays, readValueAt } from '../../../domain/cpreg-arrays';
import { DomainError } from '../../../domain/errors';
import { convertStream, cpuArrays, readStream, rewriteStream } from '../../../domain/qemu-stream';
import { decodeV22 } from '../../../domain/vmstate/v22';
import { decodeV23, encodeV23 } from '../../../domain/vmstate/v23';
import { decide, foldEvents, valuesForStreamBlock } from '../../../domain/vcpu';
import { concat, manifest, stream } from './helpers';
import { allCpusAs, withCpuBlock } from './layouts';
import { syntheticStream } from './synthetic';

/**
 * Streams whose cpu sections are at version 23, made from the real QEMU 7.2 fixtures with our
 * converter, checked field by field against patch 4/5 of the seed's series
 * (the upstream review thread of "variable-sized cpregs"): in vmstate_arm_cpu,
 *   VMSTATE_INT32_POSITIVE_LE(cpreg_vmstate_array_len)
 * + VMSTATE_INT32_POSITIVE_LE(cpreg_vmstate_value_array_len)
 *   VMSTATE_VARRAY_INT32(cpreg_vmstate_indexes, …, cpreg_vmstate_array_len, vmstate_info_uint64)
 *   VMSTATE_VARRAY_INT32(cpreg_vmstate_values, …, cpreg_vmstate_value_array_len, vmstate_info_uint64)
 * + VMSTATE_VARRAY_INT32(cpreg_vmstate_value_indexes, …, cpreg_vmstate_array_len, vmstate_info_uint32)
 * and .version_id = .minimum_version_id = 23.
 */

/** The section body offset of the cpreg block in both 7.2 binaries (measured). */
const CPREG_BODY_OFFSET = 568;
const HEADER = 1 + 4 + 1 + 3 + 4 + 4; // FULL, section id, "cpu", instance, version

interface Field {
  name: string;
  type: string;
  size: number;
  array_len?: number;
}

const fixtures = manifest().fixtures;

describe.each(fixtures.map((f) => [f.name] as const))('%s at version 23', (name) => {
  const v22 = stream(name);
  const v23 = concat(convertStream([v22], 'v23').output);
  const before = readStream([v22]);
  const after = readStream([v23]);
  const json = (b: Buffer, at: number) => JSON.parse(b.subarray(at + 5).toString('utf8'));
  const descBefore = json(v22, before.vmdescOffset);
  const descAfter = json(v23, after.vmdescOffset);

  it('each cpu section: header version 23, and at body offset 568: be32 N, be32 M, N be64 ids, M be64 values, N be32 value indexes, then the v22 body after its values', () => {
    let shift = 0; // bytes the earlier cpu sections grew by
    for (const [k, c22] of before.cpus.entries()) {
      const n = c22.n;
      const at22 = c22.sectionOffset;
      const at23 = at22 + shift;
      expect(v23.subarray(at23, at23 + HEADER - 4).equals(v22.subarray(at22, at22 + HEADER - 4))).toBe(true);
      expect(v23.readUInt32BE(at23 + HEADER - 4)).toBe(23);
      const body22 = at22 + HEADER;
      const body23 = at23 + HEADER;
      expect(
        v23.subarray(body23, body23 + CPREG_BODY_OFFSET).equals(v22.subarray(body22, body22 + CPREG_BODY_OFFSET)),
      ).toBe(true);
      const b = body23 + CPREG_BODY_OFFSET;
      expect(v23.readInt32BE(b)).toBe(n);
      expect(v23.readInt32BE(b + 4)).toBe(n); // M = N: every 7.2 register is 4 or 8 bytes, one slot each
      expect(v23.subarray(b + 8, b + 8 + 16 * n).equals(v22.subarray(body22 + 572, body22 + 572 + 16 * n))).toBe(true);
      for (let i = 0; i < n; i++) expect(v23.readUInt32BE(b + 8 + 16 * n + 4 * i)).toBe(i);
      // the rest of the section (fields 16-25, subsections, footer) and what follows, to the next cpu section
      const rest22 = body22 + 572 + 16 * n;
      const rest23 = b + 8 + 20 * n;
      const next22 = before.cpus[k + 1]?.sectionOffset ?? before.vmdescOffset;
      expect(v23.subarray(rest23, rest23 + (next22 - rest22)).equals(v22.subarray(rest22, next22))).toBe(true);
      shift += 4 + 4 * n;
      // the reader finds the block there, as a v23 blob of the same registers
      const c23 = after.cpus[k]!;
      expect(c23.blockOffset).toBe(b);
      expect([c23.version, c23.format, c23.n, c23.m]).toEqual([23, 'v23', n, n]);
      expect(Buffer.from(c23.block).equals(v23.subarray(b, b + 8 + 20 * n))).toBe(true);
      expect(Buffer.from(encodeV23(decodeV22(c22.block))).equals(Buffer.from(c23.block))).toBe(true);
      expect(Array.from(decodeV23(c23.block).cpregValues)).toEqual(Array.from(c22.values));
    }
    expect(v22.subarray(0, before.cpus[0]!.sectionOffset).equals(v23.subarray(0, before.cpus[0]!.sectionOffset))).toBe(
      true,
    );
    expect(v23.length - v22.length).toBe(
      shift + (after.totalBytes - after.vmdescOffset) - (before.totalBytes - before.vmdescOffset),
    );
  });

  it('the vmdesc: each cpu device at version 23 with 27 fields, the two new ones where patch 4/5 puts them; nothing else changed', () => {
    const cpus22 = (descBefore.devices as Array<{ name: string; version: number; fields: Field[] }>).filter(
      (d) => d.name === 'cpu',
    );
    const cpus23 = (descAfter.devices as Array<{ name: string; version: number; fields: Field[] }>).filter(
      (d) => d.name === 'cpu',
    );
    expect(cpus23.length).toBe(before.cpus.length);
    for (const [k, d23] of cpus23.entries()) {
      const d22 = cpus22[k]!;
      const n = before.cpus[k]!.n;
      expect(d22.version).toBe(22);
      expect(d23.version).toBe(23);
      expect(d22.fields.length).toBe(25);
      expect(d23.fields.length).toBe(27);
      const at = d22.fields.findIndex((f) => f.name === 'cpreg_vmstate_array_len');
      expect(at).toBe(12); // field 13
      expect(d23.fields.slice(at, at + 5)).toEqual([
        { name: 'cpreg_vmstate_array_len', type: 'int32 le', size: 4 },
        { name: 'cpreg_vmstate_value_array_len', type: 'int32 le', size: 4 },
        { name: 'cpreg_vmstate_indexes', array_len: n, type: 'uint64', size: 8 },
        { name: 'cpreg_vmstate_values', array_len: n, type: 'uint64', size: 8 },
        { name: 'cpreg_vmstate_value_indexes', array_len: n, type: 'uint32', size: 4 },
      ]);
      expect(d23.fields.slice(0, at)).toEqual(d22.fields.slice(0, at));
      expect(d23.fields.slice(at + 5)).toEqual(d22.fields.slice(at + 3));
      expect(d23.fields[at + 5]!.name).toBe('env.exclusive_addr');
    }
    // every other device, the page size, and everything else in the JSON: unchanged
    const strip = (d: { devices: Array<{ name: string }> }) => ({
      ...d,
      devices: d.devices.filter((x) => x.name !== 'cpu'),
    });
    expect(strip(descAfter)).toEqual(strip(descBefore));
    expect(v23.readUInt32BE(after.vmdescOffset + 1)).toBe(after.totalBytes - after.vmdescOffset - 5);
  });

  it('the rewriter changes exactly the 8 bytes of one register in a v23 section', () => {
    const TPIDR_EL0 = 0x603000000013de82n;
    const DACR_NS = 0x40200000200f1800n;
    const cpu = after.cpus[after.cpus.length - 1]!;
    const reg = cpu.indexes.includes(TPIDR_EL0) ? TPIDR_EL0 : DACR_NS;
    const k = cpu.indexes.indexOf(reg);
    const { output } = rewriteStream([v23], (instance, _ids, values, c) => {
      expect(c.format).toBe('v23');
      expect(values.length).toBe(c.m);
      if (instance === cpu.instance) values[cpu.valueIndexes[k]!] = 0x12345678n;
      return values;
    });
    const out = concat(output);
    const at = cpu.blockOffset + 8 + 8 * cpu.n + 8 * k;
    const diff = [...out.keys()].filter((i) => out[i] !== v23[i]);
    expect(diff.length).toBeGreaterThan(0);
    expect(diff.every((i) => i >= at && i < at + 8)).toBe(true);
    expect(readStream([out]).cpus.find((c) => c.instance === cpu.instance)!.values[k]).toBe(0x12345678n);
    // and the rewritten stream converts back to v22 with the new value in place
    const back = readStream([concat(convertStream([out], 'v22').output)]);
    expect(back.cpus.find((c) => c.instance === cpu.instance)!.values[k]).toBe(0x12345678n);
  });
});

describe('cpu sections of other layouts are refused, naming the offset', () => {
  const v22 = stream('arm-cortex-a7');
  const info = readStream([v22]);
  const cpu = info.cpus[0]!;
  const versionAt = cpu.sectionOffset + HEADER - 4;
  const refusal = (b: Buffer): DomainError => {
    try {
      readStream([b]);
    } catch (e) {
      expect(e).toBeInstanceOf(DomainError);
      return e as DomainError;
    }
    throw new Error('accepted');
  };

  it('version 24', () => {
    const b = Buffer.from(v22);
    b.writeUInt32BE(24, versionAt);
    // the vmdesc still says 22: the section/vmdesc mismatch is found first
    expect(refusal(b).message).toMatch(/^at byte \d+: section "cpu" version 24, vmdesc says 22/);
  });

  it('a section at version 22 whose fields are v23 (and the converse)', () => {
    const v23 = concat(convertStream([v22], 'v23').output);
    const as22 = Buffer.from(v23);
    as22.writeUInt32BE(22, versionAt);
    const t = as22.toString('latin1');
    const fixed = Buffer.from(
      t.replace('"vmsd_name": "cpu", "version": 23', '"vmsd_name": "cpu", "version": 22'),
      'latin1',
    );
    expect(refusal(fixed).message).toMatch(/cpu section version 22 lists cpreg_vmstate_value_array_len/);
    const as23 = Buffer.from(v22);
    as23.writeUInt32BE(23, versionAt);
    const t2 = Buffer.from(
      as23.toString('latin1').replace('"vmsd_name": "cpu", "version": 22', '"vmsd_name": "cpu", "version": 23'),
      'latin1',
    );
    expect(refusal(t2).message).toMatch(
      /cpu section version 23 has no cpreg_vmstate_value_array_len field before cpreg_vmstate_indexes/,
    );
  });
});

describe('rewriting a v23 stream with registers wider than 8 bytes from a vCPU (valuesForStreamBlock)', () => {
  it("writes the vCPU's M slots; the same list in a v22 section is not representable", () => {
    const base = allCpusAs(concat([...syntheticStream({ ramBytes: 0 })]), 'v23');
    const ids = BigUint64Array.from([0x603000000013de82n, 0x6040000000140000n, 0x6050000000140001n]);
    const a = layoutArrays(ids); // slots: 1 + 2 + 4
    const stream23 = withCpuBlock(base, 1, a, 'v23');
    const block = readStream([stream23]).cpus[1]!.block;
    let state = foldEvents(
      undefined,
      decide({ type: 'CreateVcpuFromBlob', accelerator: 'kvm', format: 'v23', blob: block }, undefined),
    )!;
    const wide = (1n << 200n) + 7n;
    state = foldEvents(state, decide({ type: 'WriteRegisters', values: [[0x6050000000140001n, wide]] }, state))!;
    const { output } = rewriteStream([stream23], (instance, _indexes, values, cpu) =>
      instance === 1 ? valuesForStreamBlock('vm.cpu1', state, cpu) : values,
    );
    const out = readStream([concat(output)]).cpus[1]!;
    expect(out.m).toBe(7);
    expect(readValueAt(cpuArrays(out), 2)).toBe(wide);
    expect(() => valuesForStreamBlock('vm.cpu1', state, { instance: 1, indexes: ids })).toThrow(
      expect.objectContaining({ kind: 'not-representable' }),
    );
  });
});
