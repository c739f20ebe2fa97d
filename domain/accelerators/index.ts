import type { Accelerator } from '../accelerator';
import { DomainError } from '../errors';
import type { RegId } from '../regid';
import { hvfList, checkHvfBlobIds } from './hvf';
import { checkKvmBlobIds, kvmListFromKernel } from './kvm';
import { checkTcgBlobIds, tcgList } from './tcg';

export * from './kvm';
export { HVF_SYSREGS } from './hvf-table';

/** The cpreg list a vCPU keeps, from what the accelerator (or the caller) gave. */
export function listFor(accelerator: Accelerator, given: readonly RegId[] | undefined): BigUint64Array {
  switch (accelerator) {
    case 'kvm':
      if (!given)
        throw new DomainError('invalid-command', "a KVM vCPU needs the kernel's register list (KVM_GET_REG_LIST)");
      return kvmListFromKernel(given);
    case 'tcg':
      if (!given)
        throw new DomainError('invalid-command', 'a TCG vCPU needs its register list (it depends on the CPU model)');
      return tcgList(given);
    case 'hvf':
      return hvfList(given);
  }
}

/** A blob's ids must be a list this accelerator could have made (already sorted and unique). */
export function checkBlobIdsFor(accelerator: Accelerator, ids: BigUint64Array): void {
  if (accelerator === 'kvm') checkKvmBlobIds(ids);
  else if (accelerator === 'tcg') checkTcgBlobIds(ids);
  else checkHvfBlobIds(ids);
}
