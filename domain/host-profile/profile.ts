import type { Labels } from '../labels';
import type { RegId } from '../regid';

/**
 * A host a vCPU may migrate to: what its QEMU migrates for the CPU model it runs (the cpreg list
 * and values of an idle vCPU there), which QEMU and CPU model that is, and for KVM the kernel's
 * writable masks when it has them. A profile is always the fold of its events.
 */
export interface HostProfile {
  readonly accelerator: 'tcg' | 'kvm';
  /** QEMU's major.minor ("7.2", "10.0"). */
  readonly qemu: string;
  /** The `-cpu` model (given, or fingerprinted from the constants of the list). */
  readonly cpuModel: string;
  /** The machine type its streams carry (`virt-10.0`), null when unknown. */
  readonly machine: string | null;
  /** The host's list, ascending, with an idle vCPU's values (parallel arrays). */
  readonly ids: readonly RegId[];
  readonly values: readonly bigint[];
  /** KVM_ARM_GET_REG_WRITABLE_MASKS (Linux 6.7+): id → the bits userspace may change. */
  readonly writableMasks: ReadonlyMap<RegId, bigint> | null;
  readonly labels: Labels;
}

/** Where a profile's content came from. */
export type ProfileSource = { kind: 'stream'; sha256: string } | { kind: 'json' };

export interface SetHostProfile {
  readonly type: 'SetHostProfile';
  readonly profile: HostProfile;
  readonly source: ProfileSource;
}

export type HostProfileCommand = SetHostProfile;

export interface HostProfileSet {
  readonly type: 'HostProfileSet';
  readonly profile: HostProfile;
  readonly source: ProfileSource;
}

export type HostProfileEvent = HostProfileSet;
