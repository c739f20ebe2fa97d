import type { CpregArrays } from '../cpreg-arrays';
import { DomainError } from '../errors';
import type { RegId } from '../regid';
import { listRegs } from '../vmstate/check';
import { decodeBlob, encodeBlob, type BlobFormat } from '../vmstate/format';
import { tooWideForV22 } from '../vmstate/v22';
import { be32, malformed } from './bytes';
import {
  CPU_IDSTR,
  CPU_V22,
  CPU_V23,
  FIELD_CPREG_INDEXES,
  FIELD_CPREG_LEN,
  FIELD_CPREG_VALUE_INDEXES,
  FIELD_CPREG_VALUE_LEN,
  FIELD_CPREG_VALUES,
} from './constants';
import { JsonSpanError, member, parseJsonSpans, stringMember, type JsonNode } from './json-spans';
import type { Finished, ReaderOptions } from './reader';
import { TailTransform } from './tail-transform';
import type { CpuCpregBlock, StreamInfo } from './types';

/**
 * Converts a whole QEMU migration stream between the two `cpu` section layouts (v22, and v23 of the variable-sized cpreg series):
 * v22 (QEMU 7.2 … master) and v23 (the seed's series, patch 4/5). For each `cpu` section not
 * already in the target layout it changes exactly
 *   - the section header's version (22 ↔ 23),
 *   - the cpreg fields: `cpreg_vmstate_value_array_len` (be32 M) inserted after
 *     `cpreg_vmstate_array_len` and N be32 `cpreg_vmstate_value_indexes` after the M values, or
 *     both removed (the block becomes the other format's blob of the same registers and values),
 *   - that device's vmdesc entry: its `version` and its field list (the two field entries
 *     inserted, modelled on their neighbours, or removed), and the vmdesc's be32 length;
 * and nothing else: RAM and every other device pass through byte for byte. Streams carry no
 * other length or size of a device section (sections are not length-prefixed).
 *
 * Streaming, like the rewriter: RAM passes through as it is parsed; only the device tail is held.
 * Each block must decode strictly in its own format (sorted ids, v23 value indexes that match the
 * sizes) — the converter never guesses — and to v22 it refuses registers wider than 8 bytes
 * (DomainError 'not-representable', naming them by id, per vCPU).
 */
export class StreamConverter extends TailTransform {
  private converted = 0;

  constructor(
    readonly to: BlobFormat,
    opts?: ReaderOptions,
  ) {
    super(opts);
    if (to !== 'v22' && to !== 'v23')
      throw new DomainError('invalid-command', `convert to v22 or v23, not ${String(to)}`);
  }

  /** How many `cpu` sections were changed (available after `end()`); 0: the output is the input. */
  get convertedSections(): number {
    return this.converted;
  }

  protected transformTail(f: Finished & { tail: Uint8Array }): Uint8Array[] {
    const edits = planConversion(f.info, f.tail, f.tailStart, this.to);
    this.converted = f.info.cpus.filter((c) => c.format !== this.to).length;
    return applyEdits(f.tail, edits);
  }
}

/** Convenience: convert a whole stream given as chunks; returns the output chunks and the input summary. */
export function convertStream(
  chunks: Iterable<Uint8Array>,
  to: BlobFormat,
  opts?: ReaderOptions,
): { output: Uint8Array[]; info: StreamInfo; convertedSections: number } {
  const c = new StreamConverter(to, opts);
  const output: Uint8Array[] = [];
  for (const chunk of chunks) for (const o of c.push(chunk)) output.push(o);
  for (const o of c.end()) output.push(o);
  return { output, info: c.info!, convertedSections: c.convertedSections };
}

/** Replace `length` bytes at `at` (relative to the tail) by `bytes`. */
interface Edit {
  at: number;
  length: number;
  bytes: Uint8Array;
}

const te = new TextEncoder();

function be32Bytes(v: number): Uint8Array {
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

function planConversion(info: StreamInfo, tail: Uint8Array, tailStart: number, to: BlobFormat): Edit[] {
  const todo = info.cpus.filter((c) => c.format !== to);
  if (todo.length === 0) return [];
  const decoded = todo.map((cpu) => ({ cpu, arrays: decodeStrictly(cpu) }));
  if (to === 'v22') refuseWide(decoded);
  const blocks = decoded.map(({ cpu, arrays }) => ({ cpu, block: encodeBlob(to, arrays) }));

  const edits: Edit[] = [];
  const fullSections = info.sections.filter((s) => s.kind === 'full');
  const vmdescAt = info.vmdescOffset - tailStart;
  const jsonAt = vmdescAt + 5;
  const json = tail.subarray(jsonAt);
  let root: JsonNode;
  try {
    root = parseJsonSpans(json);
  } catch (e) {
    if (e instanceof JsonSpanError) throw malformed(info.vmdescOffset + 5, `vmdesc: ${e.message}`);
    throw e;
  }
  const devices = member(root, 'devices');
  if (devices?.kind !== 'array') throw malformed(info.vmdescOffset + 5, 'vmdesc has no devices list');
  const jsonEdits: Edit[] = [];

  for (const { cpu, block } of blocks) {
    // The section header: type, be32 id, u8 len + idstr, be32 instance, be32 version.
    const versionAt = cpu.sectionOffset - tailStart + 1 + 4 + 1 + CPU_IDSTR.length + 4;
    const toVersion = to === 'v23' ? CPU_V23 : CPU_V22;
    if (be32(tail, versionAt) !== cpu.version)
      throw malformed(cpu.sectionOffset, `cpu section ${cpu.instance}: version field not where expected`);
    edits.push({ at: versionAt, length: 4, bytes: be32Bytes(toVersion) });
    edits.push({ at: cpu.blockOffset - tailStart, length: cpu.block.length, bytes: block });

    // Its vmdesc entry: the walk matched FULL sections and vmdesc devices one to one, in order.
    const k = fullSections.findIndex((s) => s.offset === cpu.sectionOffset);
    const dev = k >= 0 && devices.kind === 'array' ? devices.items[k] : undefined;
    if (stringMember(dev, 'name') !== CPU_IDSTR)
      throw malformed(cpu.sectionOffset, `no vmdesc entry for cpu ${cpu.instance}`);
    try {
      jsonEdits.push(...deviceEdits(json, dev!, cpu, to, toVersion));
    } catch (e) {
      if (e instanceof JsonSpanError)
        throw malformed(cpu.sectionOffset, `vmdesc entry of cpu ${cpu.instance}: ${e.message}`);
      throw e;
    }
  }

  const newJson = applyEdits(json, jsonEdits);
  const newLength = newJson.reduce((n, c) => n + c.length, 0);
  edits.push({ at: vmdescAt + 1, length: 4, bytes: be32Bytes(newLength) });
  edits.push({ at: jsonAt, length: json.length, bytes: concatBytes(newJson, newLength) });
  return edits;
}

/** The block's arrays, decoded strictly in its own format (a refusal names the vCPU). */
function decodeStrictly(cpu: CpuCpregBlock): CpregArrays {
  try {
    return decodeBlob(cpu.format, cpu.block);
  } catch (e) {
    if (e instanceof DomainError)
      throw new DomainError(
        e.kind,
        `cpu ${cpu.instance} (block at byte ${cpu.blockOffset}): ${e.message}`,
        e.registers,
      );
    throw e;
  }
}

/** To v22: every register wider than 8 bytes of every vCPU, named, or nothing. */
function refuseWide(decoded: Array<{ cpu: CpuCpregBlock; arrays: CpregArrays }>): void {
  const parts: string[] = [];
  const all = new Set<RegId>();
  for (const { cpu, arrays } of decoded) {
    const wide = tooWideForV22(arrays);
    if (!wide.length) continue;
    parts.push(`cpu ${cpu.instance}: ${listRegs(wide)}`);
    wide.forEach((id) => all.add(id));
  }
  if (!parts.length) return;
  throw new DomainError(
    'not-representable',
    `a v22 cpu section cannot carry registers wider than 8 bytes (keep the stream at v23): ${parts.join('; ')}`,
    [...all].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/**
 * The vmdesc edits of one cpu device: `version`, and the two v23 field entries inserted (each a
 * copy of its neighbour's text with name, type and size changed: `cpreg_vmstate_array_len` for
 * the int32 M, `cpreg_vmstate_indexes` for the N uint32 value indexes — same count, so the same
 * `array_len`, or none for one element, as QEMU writes it) or removed with their separator.
 */
function deviceEdits(json: Uint8Array, dev: JsonNode, cpu: CpuCpregBlock, to: BlobFormat, version: number): Edit[] {
  const where = `vmdesc entry of cpu ${cpu.instance}`;
  const bad = (what: string) => malformed(cpu.sectionOffset, `${where}: ${what}`);
  const edits: Edit[] = [];
  const v = member(dev, 'version');
  if (v?.kind !== 'number') throw bad('no version');
  edits.push({ at: v.start, length: v.end - v.start, bytes: te.encode(String(version)) });
  const fields = member(dev, 'fields');
  if (fields?.kind !== 'array') throw bad('no fields');
  const items = fields.items;
  const find = (name: string) => items.findIndex((it) => stringMember(it, 'name') === name);
  /** The bytes between item i and the next (", " in QEMU's vmdesc), or before it for the last. */
  const separator = (i: number): Uint8Array => {
    const a = items[i]!;
    const next = items[i + 1];
    if (next) return json.subarray(a.end, next.start);
    const prev = items[i - 1];
    return prev ? json.subarray(prev.end, a.start) : te.encode(', ');
  };

  if (to === 'v23') {
    const len = find(FIELD_CPREG_LEN);
    if (len < 0) throw bad(`no ${FIELD_CPREG_LEN}`);
    const lenNode = items[len]!;
    const mEntry = withMembers(json, lenNode, { name: FIELD_CPREG_VALUE_LEN });
    edits.push({ at: lenNode.end, length: 0, bytes: concatBytes([separator(len), mEntry]) });
    if (cpu.n > 0) {
      const idx = find(FIELD_CPREG_INDEXES);
      const vals = find(FIELD_CPREG_VALUES);
      if (idx < 0 || vals < 0) throw bad(`no ${FIELD_CPREG_INDEXES} / ${FIELD_CPREG_VALUES}`);
      const vi = withMembers(json, items[idx]!, { name: FIELD_CPREG_VALUE_INDEXES, type: 'uint32', size: 4 });
      edits.push({ at: items[vals]!.end, length: 0, bytes: concatBytes([separator(vals), vi]) });
    }
  } else {
    for (const name of [FIELD_CPREG_VALUE_LEN, FIELD_CPREG_VALUE_INDEXES]) {
      const i = find(name);
      if (i < 0) {
        if (name === FIELD_CPREG_VALUE_INDEXES && cpu.n === 0) continue;
        throw bad(`no ${name}`);
      }
      // Remove the separator before it and the entry (every such entry has one before it).
      const prev = items[i - 1];
      if (!prev) throw bad(`${name} is the first field`);
      edits.push({ at: prev.end, length: items[i]!.end - prev.end, bytes: new Uint8Array(0) });
    }
    if (!convertsBack(json, dev, cpu, edits)) {
      throw bad(
        `the entries of ${FIELD_CPREG_VALUE_LEN} and ${FIELD_CPREG_VALUE_INDEXES} are not as QEMU writes them ` +
          `(copies of ${FIELD_CPREG_LEN} and ${FIELD_CPREG_INDEXES}, types int32 le and uint32): ` +
          'converted to v22 the entry could not be converted back exactly',
      );
    }
  }
  return edits;
}

/**
 * Whether the device's entry with the edits to v22 applied gives it back byte for byte when
 * converted to v23 again: what removing the v23 entries loses (their text), QEMU's own are
 * rebuilt exactly, so a conversion is refused rather than made irreversible by an entry of
 * another form.
 */
function convertsBack(json: Uint8Array, dev: JsonNode, cpu: CpuCpregBlock, toV22: Edit[]): boolean {
  const own = json.subarray(dev.start, dev.end);
  const v22 = concatBytes(
    applyEdits(
      own,
      toV22.map((e) => ({ ...e, at: e.at - dev.start })),
    ),
  );
  let back: Uint8Array;
  try {
    const root = parseJsonSpans(v22);
    back = concatBytes(applyEdits(v22, deviceEdits(v22, root, cpu, 'v23', CPU_V23)));
  } catch {
    return false;
  }
  return back.length === own.length && back.every((b, i) => b === own[i]);
}

/** An object node's text with some members' values replaced (strings quoted, numbers as digits). */
function withMembers(json: Uint8Array, node: JsonNode, values: Record<string, string | number>): Uint8Array {
  if (node.kind !== 'object') throw new JsonSpanError('field entry is not an object');
  const edits: Edit[] = [];
  for (const [key, val] of Object.entries(values)) {
    const v = member(node, key);
    if (!v) throw new JsonSpanError(`field entry has no ${key}`);
    edits.push({ at: v.start - node.start, length: v.end - v.start, bytes: te.encode(JSON.stringify(val)) });
  }
  const parts = applyEdits(json.subarray(node.start, node.end), edits);
  return concatBytes(parts);
}

/** `buf` with the edits applied (non-overlapping; any order), as chunks (views of `buf` and the edits). */
function applyEdits(buf: Uint8Array, edits: Edit[]): Uint8Array[] {
  const sorted = [...edits].sort((a, b) => a.at - b.at || a.length - b.length);
  const out: Uint8Array[] = [];
  let pos = 0;
  for (const e of sorted) {
    if (e.at < pos) throw new Error('overlapping stream edits'); // a bug of ours, never input
    if (e.at > pos) out.push(buf.subarray(pos, e.at));
    if (e.bytes.length) out.push(e.bytes);
    pos = e.at + e.length;
  }
  if (pos < buf.length) out.push(buf.subarray(pos));
  return out;
}

function concatBytes(parts: Uint8Array[], total = parts.reduce((n, p) => n + p.length, 0)): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
