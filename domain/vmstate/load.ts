import { indexOfReg, readValueAt, type CpregArrays } from '../cpreg-arrays';
import { DomainError } from '../errors';
import type { RegId } from '../regid';
import { listRegs } from './check';
import { isReadOnlyIdRegister } from './read-only-ids';

export interface LoadWarning {
  kind: 'read-only-id-register-changed';
  register: RegId;
  message: string;
}

/** What loading a blob does to a vCPU (QEMU's cpu_post_load merge), or would do on a dry run. */
export interface LoadPlan {
  /** Every register the blob carries, ascending: their slots take the blob's values. */
  updated: RegId[];
  /** The subset of `updated` whose value actually changes. */
  changed: RegId[];
  /** Registers of the vCPU that the blob does not carry: they keep their values. */
  kept: RegId[];
  /** New value of each updated register, in `updated` order. */
  values: bigint[];
  warnings: LoadWarning[];
}

/**
 * QEMU's rules: incoming N ≤ the destination's N ("Invalid value N expecting positive value
 * <= M"), and every incoming register must exist at the destination. Stricter than QEMU 7.2,
 * which silently ignores incoming ids above the destination's highest id: those are refused too.
 */
export function planLoad(dest: CpregArrays, incoming: CpregArrays): LoadPlan {
  const destN = dest.cpregIndexes.length;
  const inN = incoming.cpregIndexes.length;
  const unknown: RegId[] = [];
  const updated: RegId[] = [];
  const changed: RegId[] = [];
  const values: bigint[] = [];
  const warnings: LoadWarning[] = [];
  const matched = new Uint8Array(destN);
  for (let v = 0; v < inN; v++) {
    const id = incoming.cpregIndexes[v]!;
    const i = indexOfReg(dest, id);
    if (i < 0) {
      unknown.push(id);
      continue;
    }
    matched[i] = 1;
    const value = readValueAt(incoming, v);
    updated.push(id);
    values.push(value);
    if (value !== readValueAt(dest, i)) {
      changed.push(id);
      if (isReadOnlyIdRegister(id)) {
        warnings.push({
          kind: 'read-only-id-register-changed',
          register: id,
          message: 'read-only identification register differs; QEMU will refuse this migration',
        });
      }
    }
  }
  if (inN > destN) {
    throw new DomainError(
      'blob-rejected',
      `Invalid value ${inN} expecting positive value <= ${destN}: the blob carries more registers than this vCPU has` +
        (unknown.length ? `; not in this vCPU's list: ${listRegs(unknown)}` : ''),
      unknown,
    );
  }
  if (unknown.length) {
    throw new DomainError(
      'blob-rejected',
      `the blob carries registers this vCPU does not have: ${listRegs(unknown)}`,
      unknown,
    );
  }
  const kept: RegId[] = [];
  for (let i = 0; i < destN; i++) if (!matched[i]) kept.push(dest.cpregIndexes[i]!);
  return { updated, changed, kept, values, warnings };
}
