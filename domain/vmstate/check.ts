import { DomainError } from '../errors';
import { formatRegId, MAX_SIZE_FIELD, RegId, wellFormedWords } from '../regid';
import { HI, LO, words32 } from './words';

/** At most this many offending registers are listed in one message (all are in `registers`). */
const SHOWN = 8;

export function listRegs(ids: readonly RegId[]): string {
  const shown = ids.slice(0, SHOWN).map(formatRegId).join(', ');
  return ids.length > SHOWN ? `${shown} and ${ids.length - SHOWN} more` : shown;
}

export function malformed(message: string, regs: RegId[] = []): DomainError {
  return new DomainError('malformed-blob', regs.length ? `${message}: ${listRegs(regs)}` : message, regs);
}

/** The size field (bits 55..52) of id i, from the ids' 32-bit words (see readU64Words). */
export function sizeFieldAt(w: Uint32Array, i: number): number {
  return (w[2 * i + HI]! >>> 20) & 0xf;
}

/**
 * The ids of a blob: each well formed (arm64/arm, U8..U2048, bits 51..32 zero) and strictly
 * ascending as unsigned 64-bit — QEMU's merge walk silently misbehaves on anything else.
 * `maxSizeField` is 3 for v22 (direct addressing: nothing wider than 8 bytes). Works on the
 * ids' 32-bit words (see readU64Words), starting at element `base`.
 *
 * Values are not checked here or anywhere in the decoders: a slot is QEMU's raw 64-bit field,
 * and QEMU 10.0 itself writes (and loads back) upper bits in the slot of a 32-bit register
 * (the AArch32 views of CTR and CLIDR of QEMU 10.0 cortex-a710). They are kept byte for byte.
 */
export function checkIdWords(w: Uint32Array, base: number, ids: BigUint64Array, maxSizeField: number): void {
  let bad: RegId[] | undefined;
  let wide: RegId[] | undefined;
  let unsorted: RegId[] | undefined;
  let prevHi = -1;
  let prevLo = -1;
  for (let i = 0, k = 2 * base; i < ids.length; i++, k += 2) {
    const h = w[k + HI]!;
    const l = w[k + LO]!;
    if (!wellFormedWords(h, l)) (bad ??= []).push(ids[i]!);
    else if (((h >>> 20) & 0xf) > maxSizeField) (wide ??= []).push(ids[i]!);
    if (h < prevHi || (h === prevHi && l <= prevLo)) (unsorted ??= []).push(ids[i]!);
    prevHi = h;
    prevLo = l;
  }
  if (bad) throw malformed('blob holds ids that are not Arm register ids', bad);
  if (wide) throw malformed('a v22 blob cannot hold registers wider than 8 bytes (use v23)', wide);
  if (unsorted) throw malformed('register ids are not strictly ascending (unsorted or repeated) at', unsorted);
}

/** Ids wider than 8 bytes, ascending. */
export function wideIds(ids: BigUint64Array): RegId[] {
  const w = words32(ids);
  const wide: RegId[] = [];
  for (let i = 0; i < ids.length; i++) if (sizeFieldAt(w, i) > 3) wide.push(ids[i]!);
  return wide;
}

export const V22_MAX_SIZE_FIELD = 3;
export const V23_MAX_SIZE_FIELD = MAX_SIZE_FIELD;
