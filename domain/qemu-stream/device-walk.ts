import { Cursor, be32, be64, copyOf, malformed } from './bytes';
import {
  COMMAND,
  CPU_IDSTR,
  CPU_V22,
  CPU_V23,
  FIELD_CPREG_INDEXES,
  FIELD_CPREG_LEN,
  FIELD_CPREG_VALUE_INDEXES,
  FIELD_CPREG_VALUE_LEN,
  FIELD_CPREG_VALUES,
  SECTION_FOOTER,
  SEC_END,
  SEC_EOF,
  SEC_FULL,
  SEC_PART,
  SEC_START,
  SUBSECTION,
  hex,
} from './constants';
import type { CpregArrays } from '../cpreg-arrays';
import type { BlobFormat } from '../vmstate/format';
import type { RamParser } from './ram';
import type { CpuCpregBlock, SectionInfo } from './types';
import type { Vmdesc, VmdescDevice, VmdescField, VmdescVmsd } from './vmdesc';

export interface TailContext {
  vmdesc: Vmdesc;
  /** section id → idstr, from the START sections seen so far (for PART/END in the tail). */
  idstrs: Map<number, string>;
  ram: RamParser | undefined;
  sections: SectionInfo[];
  cpus: CpuCpregBlock[];
  partSections: number;
}

/**
 * Walks the buffered device tail (from the first device section up to the vmdesc marker) with the
 * vmdesc: sections carry no lengths, so the field list is the only way to find where each ends.
 * Returns the absolute offset of the EOF byte.
 */
export function walkTail(cur: Cursor, ctx: TailContext): number {
  let next = 0; // vmdesc devices are listed in section order
  for (;;) {
    const at = cur.offset;
    const type = cur.u8('a section type byte');
    switch (type) {
      case SEC_FULL:
      case SEC_START: {
        const sectionId = cur.u32('a section header');
        const idstr = cur.str(cur.u8('a section header'), 'a section idstr');
        const instanceId = cur.u32('a section header');
        const version = cur.u32('a section header');
        if (type === SEC_START) {
          throw malformed(
            at,
            `START section "${idstr}" after device state: iterable sections other than "ram" cannot be walked`,
          );
        }
        ctx.idstrs.set(sectionId, idstr);
        ctx.sections.push({ kind: 'full', sectionId, idstr, instanceId, version, offset: at });
        const dev = ctx.vmdesc.devices[next++];
        if (!dev)
          throw malformed(
            at,
            `FULL section "${idstr}" instance ${instanceId} has no entry in the vmdesc (${ctx.vmdesc.devices.length} devices)`,
          );
        if (dev.name !== idstr || dev.instance_id !== instanceId) {
          throw malformed(
            at,
            `FULL section "${idstr}" instance ${instanceId}, but vmdesc device #${next - 1} is "${dev.name}" instance ${dev.instance_id}`,
          );
        }
        if (dev.version !== undefined && dev.version !== version)
          throw malformed(at, `section "${idstr}" version ${version}, vmdesc says ${dev.version}`);
        if (idstr === CPU_IDSTR) ctx.cpus.push(walkCpu(cur, dev, sectionId, version, at));
        else walkVmsd(cur, dev, idstr);
        footer(cur, sectionId, idstr);
        break;
      }
      case SEC_PART:
      case SEC_END: {
        const sectionId = cur.u32('a section header');
        const idstr = ctx.idstrs.get(sectionId);
        if (idstr !== 'ram' || !ctx.ram)
          throw malformed(at, `PART/END for section id ${sectionId} (${idstr ?? 'never started'}) cannot be walked`);
        ctx.partSections++;
        if (ctx.ram.run(cur) !== 'eos')
          throw malformed(cur.base + cur.limit, `stream ends inside ${ctx.ram.describe()}`);
        footer(cur, sectionId, idstr);
        break;
      }
      case COMMAND: {
        cur.u32('a command header'); // be16 command, be16 length
        cur.skip((cur.buf[cur.pos - 2]! << 8) | cur.buf[cur.pos - 1]!, 'a command payload');
        break;
      }
      case SEC_EOF:
        if (cur.pos !== cur.limit)
          throw malformed(
            cur.offset,
            `expected the vmdescription (0x06) right after EOF; it starts at byte ${cur.base + cur.limit}`,
          );
        if (next !== ctx.vmdesc.devices.length) {
          throw malformed(at, `EOF after ${next} device sections, but the vmdesc lists ${ctx.vmdesc.devices.length}`);
        }
        return at;
      default:
        throw malformed(at, `unknown section type ${hex(type)} (expected 0x00-0x04 or 0x08)`);
    }
  }
}

function footer(cur: Cursor, sectionId: number, idstr: string): void {
  const at = cur.offset;
  const b = cur.u8(`the section footer of "${idstr}"`);
  if (b !== SECTION_FOOTER)
    throw malformed(at, `expected section footer 0x7e for "${idstr}" (section ${sectionId}), got ${hex(b)}`);
  const id = cur.u32(`the section footer of "${idstr}"`);
  if (id !== sectionId) throw malformed(at + 1, `section footer id ${id}, expected ${sectionId} ("${idstr}")`);
}

function walkField(cur: Cursor, f: VmdescField, path: string): void {
  const count = f.array_len ?? 1;
  if (f.struct) {
    for (let i = 0; i < count; i++) walkVmsd(cur, f.struct, `${path}.${f.name}`);
  } else {
    cur.skip(count * f.size, `field ${path}.${f.name} (${count} × ${f.size} bytes)`);
  }
}

/** Fields, then exactly the subsections the vmdesc lists (each: 0x05, u8 len + name, be32 version). */
export function walkVmsd(cur: Cursor, d: VmdescVmsd, path: string): void {
  for (const f of d.fields) walkField(cur, f, path);
  walkSubsections(cur, d, path);
}

function walkSubsections(cur: Cursor, d: VmdescVmsd, path: string): void {
  for (const sub of d.subsections) {
    const at = cur.offset;
    const b = cur.u8(`subsection ${sub.vmsd_name}`);
    if (b !== SUBSECTION)
      throw malformed(at, `expected subsection 0x05 ("${sub.vmsd_name}") in ${path}, got ${hex(b)}`);
    const name = cur.str(cur.u8(`subsection ${sub.vmsd_name}`), `subsection ${sub.vmsd_name}`);
    if (name !== sub.vmsd_name)
      throw malformed(at, `subsection "${name}" in ${path}, vmdesc expects "${sub.vmsd_name}"`);
    const version = cur.u32(`subsection ${name}`);
    if (sub.version !== undefined && version !== sub.version)
      throw malformed(at, `subsection "${name}" version ${version}, vmdesc says ${sub.version}`);
    walkVmsd(cur, sub, name);
  }
}

/** Where each cpreg field must sit, relative to the block start, for N registers and M slots. */
function cpregLayout(format: BlobFormat, n: number, m: number) {
  const head = format === 'v22' ? 4 : 8;
  return {
    head,
    indexes: head,
    values: head + 8 * n,
    valueIndexes: head + 8 * n + 8 * m,
    length: head + 8 * n + 8 * m + (format === 'v23' ? 4 * n : 0),
  };
}

/**
 * A `cpu` section: the cpreg block is found by walking the vmdesc field list, never by fixed
 * offsets (qemu-system-arm and -aarch64 differ). Version 22: `cpreg_vmstate_array_len` (N), N ids,
 * N values. Version 23 (patch 4/5): N, `cpreg_vmstate_value_array_len` (M), N ids, M values,
 * N uint32 `cpreg_vmstate_value_indexes`. Each must directly follow the one before. A 0-element
 * VARRAY has no vmdesc entry, and a 1-element one has no array_len.
 */
function walkCpu(
  cur: Cursor,
  dev: VmdescDevice,
  sectionId: number,
  version: number,
  sectionOffset: number,
): CpuCpregBlock {
  if (version !== CPU_V22 && version !== CPU_V23) {
    throw malformed(
      sectionOffset,
      `cpu section version ${version} is neither ${CPU_V22} nor ${CPU_V23}: not a known cpreg layout`,
    );
  }
  const format: BlobFormat = version === CPU_V22 ? 'v22' : 'v23';
  let lenAt = -1;
  let n = 0;
  let m = -1;
  const seen = new Set<string>();
  const int32 = (f: VmdescField, what: string): number => {
    if (f.size !== 4 || f.array_len !== undefined || f.struct)
      throw malformed(cur.offset, `cpu field ${f.name} is not a single int32`);
    cur.need(4, what);
    const v = be32(cur.buf, cur.pos) | 0;
    if (v < 0) throw malformed(cur.offset, `${f.name} is negative (${v})`);
    return v;
  };
  for (const f of dev.fields) {
    const at = lenAt < 0 ? -1 : cur.pos - lenAt; // position relative to the block
    const layout = cpregLayout(format, n, Math.max(m, 0));
    const array = (count: number, size: number, want: number) => {
      const got = f.array_len ?? 1;
      if (format === 'v23' && m < 0)
        throw malformed(cur.offset, `cpu section version 23 has no ${FIELD_CPREG_VALUE_LEN} field before ${f.name}`);
      if (lenAt < 0 || got !== count || f.size !== size || f.struct || at !== want) {
        throw malformed(
          cur.offset,
          `cpu field ${f.name} (${got} × ${f.size}) does not follow ${FIELD_CPREG_LEN} = ${n}` +
            (format === 'v23' ? `, ${FIELD_CPREG_VALUE_LEN} = ${m}` : '') +
            ` (a version ${version} section expects ${count} × ${size} bytes at block offset ${want})`,
        );
      }
    };
    switch (f.name) {
      case FIELD_CPREG_LEN:
        if (lenAt >= 0) throw malformed(cur.offset, `cpu field ${f.name} appears twice`);
        n = int32(f, f.name);
        lenAt = cur.pos;
        break;
      case FIELD_CPREG_VALUE_LEN:
        if (format !== 'v23')
          throw malformed(cur.offset, `cpu section version ${version} lists ${f.name}, a field of version ${CPU_V23}`);
        if (lenAt < 0 || at !== 4 || m >= 0)
          throw malformed(cur.offset, `cpu field ${f.name} does not directly follow ${FIELD_CPREG_LEN}`);
        m = int32(f, f.name);
        break;
      case FIELD_CPREG_INDEXES:
        array(n, 8, layout.indexes);
        break;
      case FIELD_CPREG_VALUES:
        array(format === 'v23' ? m : n, 8, layout.values);
        break;
      case FIELD_CPREG_VALUE_INDEXES:
        if (format !== 'v23')
          throw malformed(cur.offset, `cpu section version ${version} lists ${f.name}, a field of version ${CPU_V23}`);
        array(n, 4, layout.valueIndexes);
        break;
    }
    seen.add(f.name);
    walkField(cur, f, CPU_IDSTR);
  }
  if (lenAt < 0) throw malformed(sectionOffset, `cpu section has no ${FIELD_CPREG_LEN} field in its vmdesc`);
  if (format === 'v23' && m < 0)
    throw malformed(sectionOffset, `cpu section version 23 has no ${FIELD_CPREG_VALUE_LEN} field in its vmdesc`);
  if (format === 'v22') m = n;
  // Arrays of 0 elements have no vmdesc entry; any other must be listed.
  const expected: Array<[string, number]> = [
    [FIELD_CPREG_INDEXES, n],
    [FIELD_CPREG_VALUES, m],
    ...(format === 'v23' ? ([[FIELD_CPREG_VALUE_INDEXES, n]] as Array<[string, number]>) : []),
  ];
  for (const [name, count] of expected) {
    if (count > 0 && !seen.has(name))
      throw malformed(sectionOffset, `cpu section: ${name} should hold ${count} elements but the vmdesc lacks it`);
    if (count === 0 && seen.has(name))
      throw malformed(sectionOffset, `cpu section: ${name} should be empty but the vmdesc lists it`);
  }
  const layout = cpregLayout(format, n, m);
  const block = copyOf(cur.buf, lenAt, lenAt + layout.length);
  const indexes = new BigUint64Array(n);
  const values = new BigUint64Array(m);
  const valueIndexes = new Uint32Array(n);
  for (let i = 0; i < n; i++) indexes[i] = be64(block, layout.indexes + 8 * i);
  for (let j = 0; j < m; j++) values[j] = be64(block, layout.values + 8 * j);
  for (let i = 0; i < n; i++) valueIndexes[i] = format === 'v23' ? be32(block, layout.valueIndexes + 4 * i) : i;
  walkSubsections(cur, dev, CPU_IDSTR);
  return {
    instance: dev.instance_id,
    version,
    format,
    sectionId,
    sectionOffset,
    blockOffset: cur.base + lenAt,
    n,
    m,
    block,
    indexes,
    values,
    valueIndexes,
  };
}

/**
 * A section's registers as cpreg arrays (views, no copy; not validated — decode `block` for
 * that): `readValueAt(cpuArrays(cpu), i)` is register i's value in either layout, its M slots
 * combined for a register wider than 8 bytes.
 */
export function cpuArrays(cpu: Pick<CpuCpregBlock, 'indexes' | 'valueIndexes' | 'values'>): CpregArrays {
  return { cpregIndexes: cpu.indexes, cpregValueIndexes: cpu.valueIndexes, cpregValues: cpu.values };
}

/** Byte offsets (relative to `blockOffset`) of a block's fields. */
export function blockLayout(cpu: Pick<CpuCpregBlock, 'format' | 'n' | 'm'>) {
  return cpregLayout(cpu.format, cpu.n, cpu.m);
}
