import { DomainError } from '../errors';
import { classOf, isArm64, isWellFormed, RegClass, RegId } from '../regid';
import { listRegs } from '../vmstate/check';
import { refuseIf, sortedUnique } from './list-checks';

/**
 * KVM: the list is the kernel's KVM_GET_REG_LIST minus CORE and SVE, which QEMU syncs by hand
 * (kvm_arm_reg_syncs_via_cpreg_list); every other class is kept, any future one included.
 * With indirect addressing every size U8..U2048 is accepted (QEMU 7.2 refused all but U32/U64).
 */
function syncsViaCpregList(id: RegId): boolean {
  const c = classOf(id);
  return c !== RegClass.CORE && c !== RegClass.SVE;
}

export function kvmListFromKernel(kernelIds: readonly RegId[]): BigUint64Array {
  refuseIf(
    kernelIds.filter((id) => !isWellFormed(id) || !isArm64(id)),
    'a KVM register list holds only arm64 ids (0x60…); not arm64',
  );
  return sortedUnique(kernelIds.filter(syncsViaCpregList));
}

/** A KVM blob never holds CORE or SVE ids: QEMU filters them before it saves. */
export function checkKvmBlobIds(ids: BigUint64Array): void {
  const bad: RegId[] = [];
  for (const id of ids) if (!isArm64(id) || !syncsViaCpregList(id)) bad.push(id);
  if (bad.length) {
    throw new DomainError(
      'invalid-register-list',
      `a KVM cpreg list never holds CORE, SVE or non-arm64 ids (QEMU syncs those by hand): ${listRegs(bad)}`,
      bad,
    );
  }
}

/** kvm_arm_cpreg_level: runtime (1) < reset (2) < full (3). */
const KVM_LEVELS = ['runtime', 'reset', 'full'] as const;
export type KvmLevel = (typeof KVM_LEVELS)[number];
const RANK: Record<KvmLevel, number> = { runtime: 1, reset: 2, full: 3 };

export const KVM_REG_ARM_TIMER_CNT = 0x603000000013df1an;
export const KVM_REG_ARM_PTIMER_CNT = 0x603000000013df01n;

/** The counters must only be written on a full put (migration), never on a runtime sync. */
function kvmLevelOf(id: RegId): KvmLevel {
  return id === KVM_REG_ARM_TIMER_CNT || id === KVM_REG_ARM_PTIMER_CNT ? 'full' : 'runtime';
}

export function kvmWrittenAt(id: RegId, level: KvmLevel): boolean {
  return RANK[kvmLevelOf(id)] <= RANK[level];
}

export function isKvmLevel(x: unknown): x is KvmLevel {
  return typeof x === 'string' && (KVM_LEVELS as readonly string[]).includes(x);
}
