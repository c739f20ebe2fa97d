import type { Finding, FindingRegister } from '../app/fleet';
import { formatRegId } from '../domain/regid';
import { formatValue } from '../domain/values';
import type { VcpuState } from '../domain/vcpu';
import { ByteWriter, piece } from './byte-writer';
import { idHeadBytes, infoOf, overwrittenByBytes } from './views';

const hex64 = (v: bigint) => '0x' + v.toString(16).padStart(16, '0');

/** One register of a compatibility finding, named as the vCPU's accelerator names it. */
function registerView(state: VcpuState, r: FindingRegister) {
  const info = infoOf(state, r.id);
  // keys set one by one, in the contract's order (a spread per optional key costs more than the rest)
  const v: {
    id: string;
    name: string;
    generic: boolean;
    basis?: string;
    incoming?: string;
    destination?: string;
    kept?: string;
    becomes?: string;
    overwrittenBy?: string;
    overwrittenByName?: string;
  } = { id: formatRegId(r.id), name: info.name, generic: info.generic };
  if (r.basis !== undefined) v.basis = r.basis;
  if (r.incoming !== undefined) v.incoming = formatValue(r.id, r.incoming);
  if (r.destination !== undefined) v.destination = formatValue(r.id, r.destination);
  if (r.keeps !== undefined) v.kept = hex64(r.keeps);
  if (r.becomes !== undefined) v.becomes = formatValue(r.id, r.becomes);
  if (r.by !== undefined) {
    v.overwrittenBy = formatRegId(r.by);
    v.overwrittenByName = infoOf(state, r.by).name;
  }
  return v;
}

/** A finding (a reason QEMU refuses, or a warning that a value will not survive) on the wire. */
export function findingView(state: VcpuState, f: Finding) {
  return {
    rule: f.rule,
    message: f.message,
    count: f.count ?? f.registers.length,
    registers: f.registers.map((r) => registerView(state, r)),
  };
}

/** A `basis` as JSON: its few values written once each. */
const basisTexts = new Map<string, string>();
const basisText = (b: string) => basisTexts.get(b) ?? (basisTexts.set(b, JSON.stringify(b)), JSON.stringify(b));

/**
 * JSON.stringify(findings.map((f) => findingView(state, f))): writeFindings' bytes as text. A
 * sync that sets a hundred constants names each of them, and the objects and their stringify
 * cost more than writing the bytes.
 */
export function findingsText(state: VcpuState, findings: readonly Finding[]): string {
  const w = new ByteWriter();
  writeFindings(w, state, findings);
  return w.decoded();
}

/** The findings' JSON (findingsText) as UTF-8, written into `w` (each value's digits in place). */
export function writeFindings(w: ByteWriter, state: VcpuState, findings: readonly Finding[]): void {
  w.byte(0x5b); // [
  for (let k = 0; k < findings.length; k++) {
    const f = findings[k]!; // k < length
    if (k > 0) w.byte(0x2c);
    w.text(
      `{"rule":${JSON.stringify(f.rule)},"message":${JSON.stringify(f.message)},` +
        `"count":${f.count ?? f.registers.length},"registers":[`,
    );
    for (let j = 0; j < f.registers.length; j++) {
      const r = f.registers[j]!;
      if (j > 0) w.byte(0x2c);
      w.bytes(idHeadBytes(state, r.id));
      if (r.basis !== undefined) w.bytes(basisBytes(r.basis));
      if (r.incoming !== undefined) writeValue(w, INCOMING, r.id, r.incoming);
      if (r.destination !== undefined) writeValue(w, DESTINATION, r.id, r.destination);
      if (r.keeps !== undefined) writeValue(w, KEPT, U64, r.keeps); // hex64: 16 digits
      if (r.becomes !== undefined) writeValue(w, BECOMES, r.id, r.becomes);
      if (r.by !== undefined) w.bytes(overwrittenByBytes(state, r.by));
      w.byte(0x7d); // }
    }
    w.byte(0x5d);
    w.byte(0x7d);
  }
  w.byte(0x5d); // ]
}

/** Any 64-bit register id: its values are written as hex64 writes them (16 digits). */
const U64 = 0x6030000000130000n;

const INCOMING = piece(',"incoming":"');
const DESTINATION = piece(',"destination":"');
const KEPT = piece(',"kept":"');
const BECOMES = piece(',"becomes":"');
const basisPieces = new Map<string, Uint8Array>();
function basisBytes(b: string): Uint8Array {
  let p = basisPieces.get(b);
  if (!p) basisPieces.set(b, (p = piece(',"basis":' + basisText(b))));
  return p;
}

function writeValue(w: ByteWriter, key: Uint8Array, id: bigint, v: bigint): void {
  w.bytes(key);
  w.value(id, v);
  w.byte(0x22); // "
}
