import type { CpregArrays } from '../../../domain/cpreg-arrays';
import { readStream } from '../../../domain/qemu-stream';
import type { BlobFormat } from '../../../domain/vmstate/format';

/**
 * Test-side builders of v22/v23 streams, written from the patch (4/5 of the seed's series) and
 * QEMU's vmdesc rules, independently of domain/qemu-stream's converter: the converter's output is
 * checked against these byte for byte.
 */

/** QEMU's vmdesc JSON text: `{"k": v, …}`, `[a, b]` (checked to reproduce real vmdescs exactly). */
export function qemuJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(qemuJson).join(', ')}]`;
  if (x && typeof x === 'object')
    return `{${Object.entries(x)
      .map(([k, v]) => `${JSON.stringify(k)}: ${qemuJson(v)}`)
      .join(', ')}}`;
  return JSON.stringify(x);
}

/** A vmdesc field entry as QEMU writes one for a VARRAY of `count` elements (none for 0). */
function arrayEntry(name: string, count: number, type: string, size: number): object[] {
  if (count === 0) return [];
  return [count === 1 ? { name, type, size } : { name, array_len: count, type, size }];
}

const CPREG_FIELDS = new Set([
  'cpreg_vmstate_array_len',
  'cpreg_vmstate_value_array_len',
  'cpreg_vmstate_indexes',
  'cpreg_vmstate_values',
  'cpreg_vmstate_value_indexes',
]);

/** The cpreg fields of vmstate_arm_cpu for these arrays, as their vmdesc entries (patch 4/5 for v23). */
export function cpregFieldEntries(a: CpregArrays, format: BlobFormat): object[] {
  const n = a.cpregIndexes.length;
  const m = a.cpregValues.length;
  const int32le = (name: string) => ({ name, type: 'int32 le', size: 4 });
  return format === 'v22'
    ? [
        int32le('cpreg_vmstate_array_len'),
        ...arrayEntry('cpreg_vmstate_indexes', n, 'uint64', 8),
        ...arrayEntry('cpreg_vmstate_values', n, 'uint64', 8),
      ]
    : [
        int32le('cpreg_vmstate_array_len'),
        int32le('cpreg_vmstate_value_array_len'),
        ...arrayEntry('cpreg_vmstate_indexes', n, 'uint64', 8),
        ...arrayEntry('cpreg_vmstate_values', m, 'uint64', 8),
        ...arrayEntry('cpreg_vmstate_value_indexes', n, 'uint32', 4),
      ];
}

/** The wire bytes of the cpreg fields: v22 `N, ids, values`; v23 `N, M, ids, values, value indexes`. */
export function cpregFieldBytes(a: CpregArrays, format: BlobFormat): Buffer {
  const n = a.cpregIndexes.length;
  const m = a.cpregValues.length;
  const parts: Buffer[] = [];
  const be32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    parts.push(b);
  };
  const be64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    parts.push(b);
  };
  be32(n);
  if (format === 'v23') be32(m);
  a.cpregIndexes.forEach(be64);
  if (format === 'v22') for (let i = 0; i < n; i++) be64(a.cpregValues[a.cpregValueIndexes[i]!]!);
  else a.cpregValues.forEach(be64);
  if (format === 'v23') a.cpregValueIndexes.forEach(be32);
  return Buffer.concat(parts);
}

/**
 * `base` (a real stream) with the cpu section of vCPU `instance` carrying `arrays` in `format`:
 * the section header's version, the cpreg fields and that device's vmdesc entry (version, fields)
 * and the vmdesc length are what a QEMU with that layout writes; every other byte is base's.
 */
export function withCpuBlock(base: Buffer, instance: number, arrays: CpregArrays, format: BlobFormat): Buffer {
  const info = readStream([base]);
  const cpu = info.cpus.find((c) => c.instance === instance);
  if (!cpu) throw new Error(`no cpu ${instance}`);
  const versionAt = cpu.sectionOffset + 1 + 4 + 1 + 3 + 4;
  const version = format === 'v22' ? 22 : 23;
  const k = info.sections.filter((s) => s.kind === 'full').findIndex((s) => s.offset === cpu.sectionOffset);
  const vmdesc = JSON.parse(base.subarray(info.vmdescOffset + 5).toString('utf8'));
  const dev = vmdesc.devices[k];
  if (dev.name !== 'cpu' || dev.instance_id !== instance) throw new Error('vmdesc device mismatch');
  dev.version = version;
  const fields = dev.fields as Array<{ name: string }>;
  const at = fields.findIndex((f) => f.name === 'cpreg_vmstate_array_len');
  dev.fields = [
    ...fields.slice(0, at),
    ...cpregFieldEntries(arrays, format),
    ...fields.slice(at).filter((f) => !CPREG_FIELDS.has(f.name)),
  ];
  const json = Buffer.from(qemuJson(vmdesc), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  const ver = Buffer.alloc(4);
  ver.writeUInt32BE(version);
  return Buffer.concat([
    base.subarray(0, versionAt),
    ver,
    base.subarray(versionAt + 4, cpu.blockOffset),
    cpregFieldBytes(arrays, format),
    base.subarray(cpu.blockOffset + cpu.block.length, info.vmdescOffset + 1),
    len,
    json,
  ]);
}

/** Every cpu section of `base` in `format`, with the registers and values base holds. */
export function allCpusAs(base: Buffer, format: BlobFormat): Buffer {
  let out = base;
  for (const cpu of readStream([base]).cpus) {
    const arrays = {
      cpregIndexes: cpu.indexes,
      cpregValueIndexes: cpu.valueIndexes,
      cpregValues: cpu.values,
    };
    out = withCpuBlock(out, cpu.instance, arrays, format);
  }
  return out;
}
