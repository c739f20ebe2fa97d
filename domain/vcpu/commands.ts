import type { Accelerator } from '../accelerator';
import type { KvmLevel } from '../accelerators/kvm';
import type { RegId } from '../regid';
import type { BlobFormat } from '../vmstate/format';
import type { StreamOrigin } from './events';

/** A register named by id, or by name (TPIDR_EL0), resolved against the vCPU's list. */
export type RegRef = RegId | string;
export type RegAssignment = readonly [RegRef, bigint];

export interface CreateVcpu {
  readonly type: 'CreateVcpu';
  readonly accelerator: Accelerator;
  /** KVM: the kernel's full KVM_GET_REG_LIST; TCG: the list; HVF: optional subset of the table. */
  readonly registers?: readonly RegId[];
  readonly values?: readonly RegAssignment[];
  readonly labels?: unknown;
}

export interface CreateVcpuFromBlob {
  readonly type: 'CreateVcpuFromBlob';
  readonly accelerator: Accelerator;
  readonly format: BlobFormat;
  readonly blob: Uint8Array;
  readonly sha256?: string;
  readonly labels?: unknown;
  /** The block came from a QEMU migration stream, which said this. */
  readonly origin?: StreamOrigin;
}

/** A batch: all of it or nothing. */
export interface WriteRegisters {
  readonly type: 'WriteRegisters';
  readonly values: readonly RegAssignment[];
}

export interface SyncFromAccelerator {
  readonly type: 'SyncFromAccelerator';
  /** [register, value] pairs, or the same report as 32-bit words (ReportWords). */
  readonly values: readonly RegAssignment[] | ReportWords;
  readonly failed?: readonly RegRef[];
}

/**
 * A report of register ids and values of up to 64 bits as 32-bit words, as a plain sync body
 * parses to it: register k is words[4k … 4k+3] = id high, id low, value high, value low. It is
 * decided exactly as the pairs [[id, value], …] it stands for, without a bigint per value that
 * did not change (report-words.ts).
 */
export interface ReportWords {
  readonly kind: 'words';
  readonly n: number;
  readonly words: Uint32Array;
  /**
   * Where the report named a register by name rather than by id: names[k] is register k's name
   * (its id words are then 0, and the name is resolved as a pair's name is); undefined for an id.
   */
  readonly names?: readonly (string | undefined)[];
}

export interface SyncToAccelerator {
  readonly type: 'SyncToAccelerator';
  readonly level?: KvmLevel;
}

/** The blob is made by exportBlob (pure); this records who took it, in what format, its hash. */
export interface RecordExport {
  readonly type: 'RecordExport';
  readonly format: BlobFormat;
  readonly sha256: string;
  readonly byteLength: number;
}

export interface LoadBlob {
  readonly type: 'LoadBlob';
  readonly format: BlobFormat;
  readonly blob: Uint8Array;
  readonly sha256?: string;
  /** The block came from a QEMU migration stream, which said this. */
  readonly origin?: StreamOrigin;
}

export type VcpuCommand =
  CreateVcpu | CreateVcpuFromBlob | WriteRegisters | SyncFromAccelerator | SyncToAccelerator | RecordExport | LoadBlob;
