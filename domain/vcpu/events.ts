import type { Accelerator } from '../accelerator';
import type { KvmLevel } from '../accelerators/kvm';
import type { Labels } from '../labels';
import type { RegId } from '../regid';
import type { BlobFormat } from '../vmstate/format';

/**
 * Events are self-contained: each carries every id and value needed to rebuild the state,
 * never a reference to outside data. Each type has a schema version (event-codec.ts).
 */

/** Register values of one event, parallel arrays, ascending by id. */
export interface RegValues {
  readonly ids: readonly RegId[];
  readonly values: readonly bigint[];
}

/** What a QEMU migration stream said about the vCPU whose block it carried. */
export interface StreamOrigin {
  /** Machine type from the stream's configuration section (`virt-7.2`), null if it had none. */
  readonly machine: string | null;
  readonly pageSize: number;
  /** QEMU's cpu_index (the cpu section's instance id). */
  readonly cpuIndex: number;
}

export type CreateSource =
  { kind: 'list' } | { kind: 'blob'; format: BlobFormat; sha256: string | null; origin?: StreamOrigin };

export interface VcpuCreated {
  readonly type: 'VcpuCreated';
  readonly accelerator: Accelerator;
  readonly labels: Labels;
  /** The cpreg list, ascending, and every register's initial value. */
  readonly registers: RegValues;
  readonly source: CreateSource;
}

export interface RegistersWritten {
  readonly type: 'RegistersWritten';
  readonly written: RegValues;
}

/**
 * A sync from the accelerator records what it changed, and proof of what was reported: the
 * values that differ from the state it was decided on (O(changes), not O(list)), the failed
 * registers, how many values were reported and the SHA-256 of the whole report
 * (report-digest.ts). Folded on the state it was decided on (its version's predecessor), it
 * gives exactly the state a fold of every reported value gives.
 */
export interface SyncedFromAccelerator {
  readonly type: 'SyncedFromAccelerator';
  /**
   * The reported values that changed a register, ascending by id. A schema-1 event (which
   * stored the whole report) reads back with every reported value here: writing a value a
   * register already holds changes nothing.
   */
  readonly changed: RegValues;
  /** Reported as failed: their slots keep the value they had. */
  readonly failed: readonly RegId[];
  /** How many values were reported (changed or not; failed registers not counted). */
  readonly reported: number;
  /** Lowercase hex SHA-256 of the report's canonical bytes (reportBytes in report-digest.ts). */
  readonly reportSha256: string;
}

export interface SyncedToAccelerator {
  readonly type: 'SyncedToAccelerator';
  /** KVM put level; null for TCG/HVF, which push every register. */
  readonly level: KvmLevel | null;
  /** Exactly what was to be written, in list order. */
  readonly written: RegValues;
}

export interface BlobExported {
  readonly type: 'BlobExported';
  readonly format: BlobFormat;
  readonly sha256: string;
  readonly byteLength: number;
}

export interface BlobLoaded {
  readonly type: 'BlobLoaded';
  readonly format: BlobFormat;
  readonly sha256: string | null;
  /** Every register the blob carried, with its value. */
  readonly loaded: RegValues;
  /** The subset whose value changed. */
  readonly changed: readonly RegId[];
  /** Where the blob came from, when it was a block of a QEMU migration stream. */
  readonly origin?: StreamOrigin;
}

export type VcpuEvent =
  VcpuCreated | RegistersWritten | SyncedFromAccelerator | SyncedToAccelerator | BlobExported | BlobLoaded;
