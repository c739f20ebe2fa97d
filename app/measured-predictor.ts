import { destinationFor, fingerprintModels, predictLoad, prepareDestination } from '../domain/compatibility';
import type { PreparedDestination } from '../domain/compatibility';
import type { HostProfile } from '../domain/host-profile/profile';
import { isMeasuredQemu } from '../domain/register-model';
import { profileArrays, type Fingerprint, type Predictor } from './fleet';
import { layoutArrays, writeValueAt } from '../domain/cpreg-arrays';

/**
 * QEMU's verdict from the register model measured from QEMU itself (domain/register-model): a
 * TCG host gets the model of its QEMU version, CPU model and machine options (destinationFor); a
 * KVM host the kernel's rules with its writable masks. Each host is prepared once for a whole matrix.
 */
export const measuredPredictor: Predictor<PreparedDestination> = {
  prepare: (host: HostProfile) =>
    prepareDestination(
      destinationFor({
        accelerator: host.accelerator,
        arrays: profileArrays(host),
        qemu: host.qemu,
        cpuModel: host.cpuModel,
        ...(host.machine ? { machineType: host.machine } : {}),
        writableMasks: host.writableMasks,
      }),
    ),
  predict: (incoming, prepared, opts) => predictLoad(incoming, prepared, opts),
};

/** The CPU models of a QEMU version whose measured constants a host's list matches. */
export const measuredFingerprint: Fingerprint = (qemu, ids, values) => {
  if (!isMeasuredQemu(qemu)) return [];
  const arrays = layoutArrays(BigUint64Array.from(ids));
  ids.forEach((_, i) => writeValueAt(arrays, i, values[i]!));
  return [...new Set(fingerprintModels(arrays, { qemu }).map((m) => m.cpu))];
};
