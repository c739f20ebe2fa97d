import type { Accelerator } from '../accelerator';
import type { CpregArrays } from '../cpreg-arrays';
import type { Labels } from '../labels';
import type { RegId } from '../regid';

/** A vCPU: always the fold of its events (evolve.ts). The stream version lives in storage. */
export interface VcpuState {
  readonly accelerator: Accelerator;
  readonly labels: Labels;
  readonly arrays: CpregArrays;
  /** Registers the accelerator could not read in the last sync from it (they kept their slots). */
  readonly lastSyncFailed: readonly RegId[];
}

export function labelsOf(s: VcpuState): Record<string, string> {
  return { ...s.labels };
}
