import { wellFormedWords } from '../domain/regid';
import { bits64, half, hexHalves } from '../domain/words';
import type { RegAssignment, RegRef, SyncFromAccelerator } from '../domain/vcpu';
import { regRef } from './reg-refs';
import { scanSyncText } from './sync-text';

const HEX_VALUE = /^0x[0-9a-fA-F]{1,600}$/;
const MAX_REGISTERS = 4096;

/**
 * A sync from the accelerator reports hundreds of values: a body that is plainly valid (what
 * syncBody accepts, checked in one pass) becomes the command directly; anything else goes through
 * the schema, which says exactly what is wrong. This one takes the parsed body.
 */
export function quickSyncFrom(body: unknown): SyncFromAccelerator | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  let keys = 0;
  for (const k in b) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) continue;
    if (k !== 'direction' && k !== 'values' && k !== 'failed') return undefined;
    keys++;
  }
  if (b.direction !== 'from-accelerator' || keys !== (b.failed === undefined ? 2 : 3)) return undefined;
  const v = b.values;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const map = v as Record<string, unknown>;
  const regs = Object.keys(map);
  return commandOf(regs, (k) => map[regs[k]!], b.failed);
}

/**
 * The same from the body's text, without JSON.parse (api/sync-text.ts): exactly
 * quickSyncFrom(JSON.parse(text)) where it answers, undefined where the text is not of the plain
 * shape (the caller then parses it).
 */
export function quickSyncFromText(text: string): SyncFromAccelerator | undefined {
  const s = scanSyncText(text);
  if (!s || s.direction !== 'from-accelerator') return undefined;
  if (s.words) {
    // read and checked by the scanner already: what commandOf makes of the same report
    const n = s.words.length / 4;
    if (n > MAX_REGISTERS || !failedOk(s.failed)) return undefined;
    const values = s.names
      ? { kind: 'words' as const, n, words: s.words, names: s.names }
      : { kind: 'words' as const, n, words: s.words };
    return { type: 'SyncFromAccelerator', values, failed: failedOf(s.failed) };
  }
  return commandOf(s.regs, (k) => s.values[k], s.failed, true);
}

/** `words`: a report of ids and values of up to 16 digits only becomes ReportWords (no bigints). */
function commandOf(
  regs: readonly string[],
  valueAt: (k: number) => unknown,
  f: unknown,
  words = false,
): SyncFromAccelerator | undefined {
  const n = regs.length;
  if (n > MAX_REGISTERS) return undefined;
  // One pass: every key and value checked; ids of 16 digits and values of up to 16 parsed into
  // their 32-bit halves on the way (domain/words.ts) (flags: 1 = the key is such an id, 2 = the value is short).
  if (halves.length < 4 * n) halves = new Uint32Array(8 * n);
  if (flags.length < n) flags = new Uint8Array(2 * n);
  for (let k = 0; k < n; k++) {
    const reg = regs[k]!; // k < n
    const value = valueAt(k);
    if (reg.length === 0 || reg.length > 128 || reg === '__proto__' || typeof value !== 'string') return undefined;
    let fl = 0;
    if (reg.length === 18 && hexHalves(reg) && wellFormedWords(half.hi, half.lo)) {
      halves[4 * k] = half.hi;
      halves[4 * k + 1] = half.lo;
      fl = 1;
    }
    if (value.length <= 18 && hexHalves(value)) {
      halves[4 * k + 2] = half.hi;
      halves[4 * k + 3] = half.lo;
      fl |= 2;
    } else if (!HEX_VALUE.test(value)) return undefined;
    flags[k] = fl;
  }
  if (!failedOk(f)) return undefined;
  if (words && n > 0) {
    let plain = true;
    for (let k = 0; k < n && plain; k++) plain = flags[k] === 3;
    // halves holds exactly ReportWords' layout: id high, id low, value high, value low
    if (plain)
      return {
        type: 'SyncFromAccelerator',
        values: { kind: 'words', n, words: halves.slice(0, 4 * n) },
        failed: failedOf(f as string[] | undefined),
      };
  }
  // valid: the same command as the schema's path (regRef may still refuse a malformed id)
  const values: RegAssignment[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const fl = flags[k]!; // k < n; both arrays hold at least n entries
    const id = fl & 1 ? bits64(halves[4 * k]!, halves[4 * k + 1]!) : regRef(regs[k]!);
    values[k] = [id, fl & 2 ? bits64(halves[4 * k + 2]!, halves[4 * k + 3]!) : BigInt(valueAt(k) as string)];
  }
  return { type: 'SyncFromAccelerator', values, failed: failedOf(f as string[] | undefined) };
}

/** `failed`: absent, or a list of register names or ids, as syncBody takes it. */
function failedOk(f: unknown): boolean {
  if (f === undefined) return true;
  if (!Array.isArray(f) || f.length > MAX_REGISTERS) return false;
  for (const x of f as unknown[]) if (typeof x !== 'string' || x.length === 0 || x.length > 128) return false;
  return true;
}

const failedOf = (f: readonly string[] | undefined): RegRef[] => (f === undefined ? [] : f.map(regRef));

let halves = new Uint32Array(4 * 512);
let flags = new Uint8Array(512);
