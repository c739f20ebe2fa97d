import type { RegId } from '../regid';
import {
  AARCH32_U32_NAMES,
  AARCH32_U64_NAMES,
  CORE_NAMES,
  FW_NAMES,
  KVM_SYSREG_NAMES,
  SYSREG_NAMES,
} from './table.generated';

/**
 * The generated table as Maps keyed by full id, built on first use: names are looked up for
 * every register of every response, the arrays are only the compact way to ship them.
 */
interface NameMaps {
  /** Names every accelerator shares (architectural, QEMU, KVM CORE/FW). */
  common: Map<RegId, string>;
  /** Where KVM means another register by the same number (the uapi timer ids). */
  kvm: Map<RegId, string>;
}

let maps: NameMaps | undefined;

export function nameMaps(): NameMaps {
  if (maps) return maps;
  const common = new Map<RegId, string>();
  for (const [low, name] of SYSREG_NAMES) common.set(0x6030000000130000n | BigInt(low), name);
  for (const [low, name] of AARCH32_U32_NAMES) common.set((0x40200000n << 32n) | BigInt(low), name);
  for (const [low, name] of AARCH32_U64_NAMES) common.set((0x40300000n << 32n) | BigInt(low), name);
  for (const [id, name] of CORE_NAMES) common.set(BigInt(id), name);
  for (const [id, name] of FW_NAMES) common.set(BigInt(id), name);
  const kvm = new Map<RegId, string>();
  for (const [id, name] of KVM_SYSREG_NAMES) kvm.set(BigInt(id), name);
  maps = { common, kvm };
  return maps;
}
