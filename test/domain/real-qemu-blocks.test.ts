import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { indexOfReg, readValueAt } from '../../domain/cpreg-arrays';
import { hasRealName } from '../../domain/names';
import { readStream } from '../../domain/qemu-stream';
import {
  decide,
  deserializeEvent,
  deserializeState,
  exportBlob,
  foldEvents,
  foldSerialized,
  serializeEvent,
  serializeState,
  type VcpuEvent,
  type VcpuState,
} from '../../domain/vcpu';
import { canonicalJson } from '../../storage/canonical';
import { convertBlob } from '../../domain/vmstate/format';
import { decodeV22, encodeV22 } from '../../domain/vmstate/v22';
import { decodeV23 } from '../../domain/vmstate/v23';

/** The cpreg blocks of real QEMU 7.2 and 10.0 streams (scripts/make-qemu-fixtures.sh, docs/fixtures.md). */
const DIR = path.join(__dirname, '../fixtures/qemu');
interface Manifest {
  fixtures: Array<{
    name: string;
    file: string;
    qemu: string;
    binary: string;
    cpu: string;
    cpus: Array<{ instance: number; n: number; file: string }>;
  }>;
}
const manifest = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as Manifest;
const blocks = manifest.fixtures.flatMap((f) =>
  f.cpus.map((c) => ({ fixture: f, cpu: c, label: `${f.name} cpu${c.instance}` })),
);

test('the fixtures cover both QEMUs, both binaries, at least six CPU models of 10.0 and -smp 2', () => {
  for (const q of ['7.2', '10.0']) {
    const mine = manifest.fixtures.filter((f) => f.qemu === q);
    expect(new Set(mine.map((f) => f.binary))).toEqual(new Set(['qemu-system-aarch64', 'qemu-system-arm']));
    expect(mine.some((f) => f.cpus.length === 2)).toBe(true);
  }
  expect(new Set(manifest.fixtures.filter((f) => f.qemu === '10.0').map((f) => f.cpu)).size).toBeGreaterThanOrEqual(6);
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

/**
 * QEMU 10.0 (-cpu cortex-a710 / neoverse-n2) writes the AArch32 views of CTR and CLIDR (U32 ids)
 * with their whole 64-bit value in the slot, and loads that back. Those bits are QEMU's state:
 * kept byte for byte through every decode, event, fold, snapshot and export.
 */
describe('upper bits in a 32-bit slot, through every event and state path', () => {
  const CTR = 0x40200000200f0001n;
  const CLIDR = 0x40200000200f0009n;
  const TPIDR_EL0 = 0x603000000013de82n;
  const ids = [CTR, CLIDR, TPIDR_EL0];
  const blobOf = (values: bigint[]) =>
    encodeV22({
      cpregIndexes: BigUint64Array.from(ids),
      cpregValueIndexes: Uint32Array.from([0, 1, 2]),
      cpregValues: BigUint64Array.from(values),
    });
  const block = blobOf([0x49444c004n, 0x1482000023n, 5n]);
  const stored = (events: VcpuEvent[], json: (x: unknown) => string) =>
    events.map((e, i) => {
      const s = serializeEvent(e);
      return [i + 1, s.type, s.schemaVersion, json(s.data)] as const;
    });
  const slots = (s: VcpuState | undefined) => Array.from(s!.arrays.cpregValues);

  test('create from the blob: events, both folds, the snapshot and both exports keep the raw slots', () => {
    const events = decide({ type: 'CreateVcpuFromBlob', accelerator: 'tcg', format: 'v22', blob: block }, undefined);
    const again = events.map((e) => {
      const s = serializeEvent(e);
      return deserializeEvent(s.type, s.schemaVersion, JSON.parse(JSON.stringify(s.data)));
    });
    const state = foldEvents(undefined, again)!;
    expect(slots(state)).toEqual([0x49444c004n, 0x1482000023n, 5n]);
    expect(slots(foldSerialized(undefined, stored(events, canonicalJson)))).toEqual(slots(state));
    const snap = serializeState(state);
    expect(slots(deserializeState(snap.schemaVersion, JSON.parse(JSON.stringify(snap.data))))).toEqual(slots(state));
    expect(Buffer.from(exportBlob(state, 'v22')).equals(Buffer.from(block))).toBe(true);
    expect(Buffer.from(convertBlob('v23', 'v22', exportBlob(state, 'v23'))).equals(Buffer.from(block))).toBe(true);
    expect((serializeEvent(events[0]!).data as { values: string[] }).values).toEqual([
      '0x000000049444c004',
      '0x0000001482000023',
      '0x0000000000000005',
    ]);
  });

  test('a load and a sync from the accelerator carry upper bits; a user write wider than the register is refused', () => {
    const created = decide(
      { type: 'CreateVcpuFromBlob', accelerator: 'tcg', format: 'v22', blob: blobOf([1n, 2n, 3n]) },
      undefined,
    );
    const s0 = foldEvents(undefined, created)!;
    const loaded = decide({ type: 'LoadBlob', format: 'v22', blob: block }, s0);
    const s1 = foldEvents(s0, loaded)!;
    expect(slots(s1)).toEqual([0x49444c004n, 0x1482000023n, 5n]);
    const synced = decide({ type: 'SyncFromAccelerator', values: [[CLIDR, 0xffffffff00000001n]] }, s1);
    const s2 = foldEvents(s1, synced)!;
    expect(slots(s2)).toEqual([0x49444c004n, 0xffffffff00000001n, 5n]);
    const history = [...created, ...loaded, ...synced];
    for (const json of [canonicalJson, JSON.stringify])
      expect(slots(foldSerialized(undefined, stored(history, json)))).toEqual(slots(s2));
    expect(() => decide({ type: 'WriteRegisters', values: [[CTR, 0x100000000n]] }, s2)).toThrow(
      expect.objectContaining({ kind: 'invalid-value', registers: [CTR] }),
    );
    expect(() => decide({ type: 'SyncFromAccelerator', values: [[CTR, 1n << 64n]] }, s2)).toThrow(
      expect.objectContaining({ kind: 'invalid-value' }),
    );
  });
});

describe('the real QEMU 10.0 cortex-a710 block (CTR and CLIDR with upper bits) through the vCPU', () => {
  const CTR = 0x40200000200f0001n;
  const CLIDR = 0x40200000200f0009n;
  const TPIDR_EL0 = 0x603000000013de82n;
  const idle = new Uint8Array(fs.readFileSync(path.join(DIR, 'q10-aarch64-cortex-a710-smp2.cpu0.v22.bin')));
  const ran = new Uint8Array(fs.readFileSync(path.join(DIR, 'q10-aarch64-cortex-a710-smp2-ran.cpu0.v22.bin')));
  const slotsOf = (s: VcpuState | undefined) => Array.from(s!.arrays.cpregValues);

  test("created from it: QEMU's values, shown whole, and every fold and export gives the block back", () => {
    const events = decide({ type: 'CreateVcpuFromBlob', accelerator: 'tcg', format: 'v22', blob: idle }, undefined);
    const state = foldEvents(undefined, events)!;
    expect(readValueAt(state.arrays, indexOfReg(state.arrays, CTR))).toBe(0x49444c004n);
    expect(readValueAt(state.arrays, indexOfReg(state.arrays, CLIDR))).toBe(0x1482000023n);
    const data = serializeEvent(events[0]!).data as { ids: string[]; values: string[] };
    expect(data.values[data.ids.indexOf('0x40200000200f0001')]).toBe('0x000000049444c004');
    const text = events.map((e, i) => {
      const s = serializeEvent(e);
      return [i + 1, s.type, s.schemaVersion, canonicalJson(s.data)] as const;
    });
    expect(slotsOf(foldSerialized(undefined, text))).toEqual(slotsOf(state));
    expect(Buffer.from(exportBlob(state, 'v22')).equals(Buffer.from(idle))).toBe(true);
    expect(Buffer.from(convertBlob('v23', 'v22', exportBlob(state, 'v23'))).equals(Buffer.from(idle))).toBe(true);
  });

  test('loading the guest-ran block of the same model changes what the guest wrote, and keeps the upper bits', () => {
    const s0 = foldEvents(
      undefined,
      decide({ type: 'CreateVcpuFromBlob', accelerator: 'tcg', format: 'v22', blob: idle }, undefined),
    )!;
    const loaded = decide({ type: 'LoadBlob', format: 'v22', blob: ran }, s0);
    const e = loaded[0]!;
    if (e.type !== 'BlobLoaded') throw new Error('expected BlobLoaded');
    expect(e.changed).toContain(TPIDR_EL0);
    expect(e.changed).not.toContain(CTR);
    const s1 = foldEvents(s0, loaded)!;
    expect(Buffer.from(exportBlob(s1, 'v22')).equals(Buffer.from(ran))).toBe(true);
  });
});
