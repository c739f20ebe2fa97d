import type { RegId } from '../regid';
import {
  AARCH32_U32_NAMES,
  AARCH32_U64_NAMES,
  CORE_NAMES,
  FW_NAMES,
  KVM_SYSREG_NAMES,
  NAME_ALIASES,
  NAME_SCOPES,
  NAME_VARIANTS,
  SYSREG_NAMES,
} from './table.generated';

/** An id whose register depends on the CPU: the default name's scope and the other meanings. */
export interface Variants {
  /** Index into NameMaps.scopes of the table the default name comes from. */
  scope: number;
  /** The other registers the id is on other CPUs: name and the index of its table. */
  others: readonly { name: string; scope: number }[];
}

/**
 * The generated table as Maps keyed by full id, built on first use: names are looked up for
 * every register of every response, the arrays are only the compact way to ship them.
 */
interface NameMaps {
  /** Names every accelerator shares (architectural, QEMU, KVM CORE/FW). */
  common: Map<RegId, string>;
  /** Where KVM means another register by the same number (the uapi timer ids). */
  kvm: Map<RegId, string>;
  /** Other names lookups accept: QEMU's own where the table has the architecture's. */
  aliases: Map<RegId, readonly string[]>;
  /** Ids that name different registers on different CPUs. */
  variants: Map<RegId, Variants>;
  /** QEMU register tables, each with the ids only it migrates (empty: not recognisable). */
  scopes: { name: string; signature: readonly RegId[] }[];
}

let maps: NameMaps | undefined;

const U32 = 0x40200000n << 32n;
const U64 = 0x40300000n << 32n;

export function nameMaps(): NameMaps {
  if (maps) return maps;
  const common = new Map<RegId, string>();
  for (const [low, name] of SYSREG_NAMES) common.set(0x6030000000130000n | BigInt(low), name);
  for (const [low, name] of AARCH32_U32_NAMES) common.set(U32 | BigInt(low), name);
  for (const [low, name] of AARCH32_U64_NAMES) common.set(U64 | BigInt(low), name);
  for (const [id, name] of CORE_NAMES) common.set(BigInt(id), name);
  for (const [id, name] of FW_NAMES) common.set(BigInt(id), name);
  const kvm = new Map<RegId, string>();
  for (const [id, name] of KVM_SYSREG_NAMES) kvm.set(BigInt(id), name);
  const aliases = new Map<RegId, string[]>();
  for (const [id, name] of NAME_ALIASES) {
    const key = BigInt(id);
    aliases.set(key, [...(aliases.get(key) ?? []), name]);
  }
  const variants = new Map<RegId, Variants>();
  for (const [id, scope, others] of NAME_VARIANTS) {
    variants.set(BigInt(id), { scope, others: others.map(([name, s]) => ({ name, scope: s })) });
  }
  const scopes = NAME_SCOPES.map(([name, ids]) => ({ name, signature: ids.map((x) => BigInt(x)) }));
  maps = { common, kvm, aliases, variants, scopes };
  return maps;
}
