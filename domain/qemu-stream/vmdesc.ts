import { DomainError } from '../errors';
import { be32, malformed } from './bytes';
import { VMDESCRIPTION } from './constants';

/** The vmdesc JSON (reference §6.7), validated down to what the device walk relies on. */
export interface VmdescField {
  name: string;
  type: string;
  size: number;
  /** Element count of a compressed array; absent for a single element or an `index` entry. */
  array_len?: number;
  index?: number;
  struct?: VmdescVmsd;
}
export interface VmdescVmsd {
  vmsd_name: string;
  /** Absent for old-style (non-vmsd) devices, which QEMU describes only by size. */
  version: number | undefined;
  fields: VmdescField[];
  subsections: VmdescVmsd[];
}
export interface VmdescDevice extends VmdescVmsd {
  name: string;
  instance_id: number;
}
export interface Vmdesc {
  page_size: number;
  devices: VmdescDevice[];
}

const te = new TextDecoder('utf-8', { fatal: true });

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function uint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and validates the JSON; `offset` is where it starts in the stream. */
export function parseVmdesc(json: Uint8Array, offset: number): Vmdesc {
  let raw: unknown;
  try {
    raw = JSON.parse(te.decode(json));
  } catch (e) {
    throw malformed(offset, `vmdesc is not valid JSON (${(e as Error).message})`);
  }
  const bad = (what: string): DomainError => malformed(offset, `vmdesc: ${what}`);
  if (!isObj(raw) || !uint(raw.page_size) || !Array.isArray(raw.devices)) {
    throw bad('expected {"page_size": n, "devices": [...]}');
  }
  const vmsd = (o: unknown, path: string): VmdescVmsd => {
    if (!isObj(o) || !Array.isArray(o.fields ?? [])) throw bad(`${path}: not a vmsd description`);
    const fields = ((o.fields ?? []) as unknown[]).map((f, i) => field(f, `${path}.fields[${i}]`));
    const subs = o.subsections ?? [];
    if (!Array.isArray(subs)) throw bad(`${path}.subsections is not a list`);
    const version = o.version;
    if (version !== undefined && !uint(version)) throw bad(`${path}.version is not a number`);
    const name = typeof o.vmsd_name === 'string' ? o.vmsd_name : '';
    return { vmsd_name: name, version, fields, subsections: subs.map((s, i) => vmsd(s, `${path}.subsections[${i}]`)) };
  };
  const field = (f: unknown, path: string): VmdescField => {
    if (!isObj(f) || typeof f.name !== 'string' || typeof f.type !== 'string' || !uint(f.size)) {
      throw bad(`${path}: field needs name, type and size`);
    }
    const out: VmdescField = { name: f.name, type: f.type, size: f.size };
    if (f.array_len !== undefined) {
      if (!uint(f.array_len)) throw bad(`${path}.array_len is not a count`);
      out.array_len = f.array_len;
    }
    if (f.index !== undefined) {
      if (!uint(f.index)) throw bad(`${path}.index is not a number`);
      out.index = f.index;
    }
    if (f.struct !== undefined) out.struct = vmsd(f.struct, `${path}.struct`);
    return out;
  };
  const devices = raw.devices.map((d, i): VmdescDevice => {
    if (!isObj(d) || typeof d.name !== 'string' || !uint(d.instance_id))
      throw bad(`devices[${i}] needs name and instance_id`);
    return { ...vmsd(d, `devices[${i}] (${d.name})`), name: d.name, instance_id: d.instance_id };
  });
  return { page_size: raw.page_size, devices };
}

/**
 * Finds `0x06 + be32 len + JSON` ending exactly at the end of `buf` (the device tail, which starts
 * at absolute offset `base`). Returns the index of the 0x06 byte, or -1.
 * Compact JSON never holds a 0x06 byte, so scanning back from the end meets the real marker first
 * (a 0x06 inside the length field fails the length check).
 */
export function findVmdescAtEnd(buf: Uint8Array): number {
  for (let p = buf.length - 6; p >= 0; p--) {
    if (buf[p] !== VMDESCRIPTION) continue;
    if (be32(buf, p + 1) === buf.length - p - 5 && buf[p + 5] === 0x7b /* { */) return p;
  }
  return -1;
}
