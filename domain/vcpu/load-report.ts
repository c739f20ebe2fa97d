import type { RegId } from '../regid';
import type { LoadWarning } from '../vmstate/load';
import { isReadOnlyIdRegister } from '../vmstate/read-only-ids';
import type { BlobLoaded } from './events';
import type { VcpuState } from './state';

export interface LoadReport {
  updated: RegId[];
  changed: RegId[];
  kept: RegId[];
  warnings: LoadWarning[];
}

/** The report of a load that happened, from its event and the state it produced. */
export function loadReportOf(e: BlobLoaded, after: VcpuState): LoadReport {
  const loaded = new Set(e.loaded.ids);
  return {
    updated: [...e.loaded.ids],
    changed: [...e.changed],
    kept: Array.from(after.arrays.cpregIndexes).filter((id) => !loaded.has(id)),
    warnings: e.changed.filter(isReadOnlyIdRegister).map((register) => ({
      kind: 'read-only-id-register-changed' as const,
      register,
      message: 'read-only identification register differs; QEMU will refuse this migration',
    })),
  };
}
