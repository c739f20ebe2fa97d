import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { readValueAt, indexOfReg } from '../../domain/cpreg-arrays';
import { hasRealName } from '../../domain/names';
import { readStream } from '../../domain/qemu-stream';
import { decide, foldEvents } from '../../domain/vcpu';
import { convertBlob } from '../../domain/vmstate/format';
import { decodeV22, encodeV22 } from '../../domain/vmstate/v22';
import { decodeV23 } from '../../domain/vmstate/v23';

/** The cpreg blocks of real QEMU 7.2 streams (scripts/make-qemu-fixtures.sh, docs/fixtures.md). */
const DIR = path.join(__dirname, '../fixtures/qemu');
interface Manifest {
  fixtures: Array<{
    name: string;
    file: string;
    binary: string;
    cpu: string;
    cpus: Array<{ instance: number; n: number; file: string }>;
  }>;
}
const manifest = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as Manifest;
const blocks = manifest.fixtures.flatMap((f) =>
  f.cpus.map((c) => ({ fixture: f, cpu: c, label: `${f.name} cpu${c.instance}` })),
);

test('the fixtures cover both binaries, at least three CPU models and -smp 2', () => {
  expect(new Set(manifest.fixtures.map((f) => f.binary))).toEqual(new Set(['qemu-system-aarch64', 'qemu-system-arm']));
  expect(new Set(manifest.fixtures.map((f) => f.cpu)).size).toBeGreaterThanOrEqual(3);
  expect(manifest.fixtures.some((f) => f.cpus.length === 2)).toBe(true);
});

describe.each(blocks)('$label', ({ fixture, cpu }) => {
  const block = new Uint8Array(fs.readFileSync(path.join(DIR, cpu.file)));

  test('decode → encode is byte-identical; v22 → v23 → v22 is the identity', () => {
    const a = decodeV22(block);
    expect(a.cpregIndexes.length).toBe(cpu.n);
    expect(Buffer.from(encodeV22(a)).equals(Buffer.from(block))).toBe(true);
    const v23 = convertBlob('v22', 'v23', block);
    expect(decodeV23(v23).cpregValues.length).toBe(cpu.n);
    expect(Buffer.from(convertBlob('v23', 'v22', v23)).equals(Buffer.from(block))).toBe(true);
  });

  test("the values are QEMU's: the same as the stream's own cpu section, and every register named", () => {
    const stream = readStream([zlib.gunzipSync(fs.readFileSync(path.join(DIR, fixture.file)))]);
    const section = stream.cpus.find((c) => c.instance === cpu.instance)!;
    const a = decodeV22(block);
    expect(Array.from(a.cpregIndexes)).toEqual(Array.from(section.indexes));
    expect(Array.from(a.cpregValues)).toEqual(Array.from(section.values));
    expect(Array.from(a.cpregIndexes).filter((id) => !hasRealName(id, 'tcg'))).toEqual([]);
  });

  test('a TCG vCPU created from it exports the same bytes', () => {
    const state = foldEvents(
      undefined,
      decide({ type: 'CreateVcpuFromBlob', accelerator: 'tcg', format: 'v22', blob: block }, undefined),
    )!;
    expect(Buffer.from(encodeV22(state.arrays)).equals(Buffer.from(block))).toBe(true);
  });
});

test('known values of -cpu max: DBGDIDR 0x3516d000, CNTFRQ_EL0 62.5 MHz', () => {
  const a = decodeV22(new Uint8Array(fs.readFileSync(path.join(DIR, 'aarch64-max-smp2.cpu0.v22.bin'))));
  expect(a.cpregIndexes.length).toBe(304);
  expect(readValueAt(a, indexOfReg(a, 0x40200000200e0000n))).toBe(0x3516d000n);
  expect(readValueAt(a, indexOfReg(a, 0x603000000013df00n))).toBe(62_500_000n);
});
