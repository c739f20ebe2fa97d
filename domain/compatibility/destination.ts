import type { Accelerator } from '../accelerator';
import type { CpregArrays } from '../cpreg-arrays';
import type { RegId } from '../regid';
import { registerModelFor } from '../register-model/model';
import type { QemuVersion, RegisterModel } from '../register-model/types';
import type { Destination } from './types';

/** What a host profile knows about its host. */
export interface HostDescription {
  accelerator: Accelerator;
  /** The host's list and values (its idle stream, or the JSON it was given). */
  arrays: CpregArrays;
  /** TCG/HVF: the QEMU version and CPU model (options after a comma are fine: "max,pauth=off"). */
  qemu?: QemuVersion;
  cpuModel?: string;
  /** Default qemu-system-aarch64. */
  binary?: string;
  /** The -M value; default "virt". */
  machine?: string;
  /** KVM: the kernel's writable masks of the ID registers (KVM_ARM_GET_REG_WRITABLE_MASKS). */
  writableMasks?: ReadonlyMap<RegId, bigint>;
}

/**
 * The destination of a host: for TCG/HVF with its measured register model when the QEMU version and
 * CPU model are known and measured (registerModelFor), else the structural rules; for KVM the
 * kernel's rules with its writable masks when given. Also answers the model it found.
 */
export function destinationFor(h: HostDescription): { destination: Destination; model: RegisterModel | undefined } {
  if (h.accelerator === 'kvm') {
    return {
      destination: {
        accelerator: 'kvm',
        arrays: h.arrays,
        ...(h.writableMasks ? { writableMasks: h.writableMasks } : {}),
      },
      model: undefined,
    };
  }
  const model =
    h.qemu && h.cpuModel
      ? registerModelFor({
          qemu: h.qemu,
          cpu: h.cpuModel,
          ...(h.binary ? { binary: h.binary } : {}),
          ...(h.machine ? { machine: h.machine } : {}),
        })
      : undefined;
  return { destination: { accelerator: h.accelerator, arrays: h.arrays, ...(model ? { model } : {}) }, model };
}
