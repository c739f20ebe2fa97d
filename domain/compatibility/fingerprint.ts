import type { CpregArrays } from '../cpreg-arrays';
import { registerModels } from '../register-model/model';
import type { QemuVersion, RegisterModel } from '../register-model/types';

/**
 * The measured models a list and its values can come from: the same ids, and every constant
 * (a register that keeps no bit, whose value depends neither on the vCPU nor on time) equal to the
 * model's reset value. Several answers (or none) mean the caller has to be told.
 */
export function fingerprintModels(
  arrays: CpregArrays,
  opts: { qemu?: QemuVersion; binary?: string } = {},
): RegisterModel[] {
  const ids = arrays.cpregIndexes;
  return registerModels().filter((m) => {
    if (opts.qemu && m.qemu !== opts.qemu) return false;
    if (opts.binary && m.binary !== opts.binary) return false;
    if (m.ids.length !== ids.length) return false;
    for (let i = 0; i < ids.length; i++) {
      if (m.ids[i] !== ids[i]) return false;
      const f = m.facts[i]!;
      if (f.keep === 0n && !f.varies && !f.volatile && arrays.cpregValues[arrays.cpregValueIndexes[i]!] !== f.reset)
        return false;
    }
    return true;
  });
}
