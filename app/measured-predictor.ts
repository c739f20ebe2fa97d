import { fingerprintModels, identifyModel, predictLoad, prepareDestination } from '../domain/compatibility';
import type { PreparedDestination } from '../domain/compatibility';
import { layoutArrays, writeValueAt } from '../domain/cpreg-arrays';
import type { HostProfile } from '../domain/host-profile/profile';
import type { QemuVersion } from '../domain/register-model';
import { profileArrays, type Fingerprint, type Predictor } from './fleet';

const QEMU_VERSIONS: readonly string[] = ['7.2', '10.0'];

/**
 * QEMU's verdict from the register model measured from QEMU itself (domain/register-model): a
 * TCG host gets the model of its QEMU version, CPU model and machine options (identifyModel); a KVM
 * host the kernel's rules with its writable masks. Each host is prepared once for a whole matrix.
 */
export const measuredPredictor: Predictor<PreparedDestination> = {
  prepare(host: HostProfile) {
    const arrays = profileArrays(host);
    if (host.accelerator === 'kvm') {
      return prepareDestination({
        accelerator: 'kvm',
        arrays,
        ...(host.writableMasks ? { writableMasks: host.writableMasks } : {}),
      });
    }
    const model = identifyModel(arrays, {
      ...(QEMU_VERSIONS.includes(host.qemu) ? { qemu: host.qemu as QemuVersion } : {}),
      cpu: host.cpuModel,
      ...(host.machine ? { machineType: host.machine } : {}),
    });
    return prepareDestination({ accelerator: 'tcg', arrays, ...(model ? { model } : {}) });
  },
  predict: (incoming, prepared, opts) => predictLoad(incoming, prepared, opts),
};

/** The CPU models of a QEMU version whose measured constants a host's list matches. */
export const measuredFingerprint: Fingerprint = (qemu, ids, values) => {
  if (!QEMU_VERSIONS.includes(qemu)) return [];
  const arrays = layoutArrays(BigUint64Array.from(ids));
  ids.forEach((_, i) => writeValueAt(arrays, i, values[i]!));
  return [...new Set(fingerprintModels(arrays, { qemu: qemu as QemuVersion }).map((m) => m.cpu))];
};
