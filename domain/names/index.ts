import type { Accelerator } from '../accelerator';
import { DomainError } from '../errors';
import { type RegId, compareRegIds, formatRegId } from '../regid';
import { genericName } from './generic';
import { kvmRuleName } from './kvm-rules';
import { nameMaps } from './tables';

export { genericName } from './generic';
export { QEMU_VERSIONS } from './table.generated';

/** What a register is called, and whether that is a real name or the generic form. */
export interface RegisterInfo {
  /** The real name where one is known, else the generic form (S3_3_C13_C0_2, `p15 0 c13 c0 3`). */
  name: string;
  /** True when `name` is the generic form: no source names this id (docs/names.md). */
  generic: boolean;
}

/**
 * What the CPU at hand is, as far as names care: for the few ids that are different registers on
 * different CPUs (p15 0 c1 c0 1 is XScale's auxiliary control register on a PXA CPU and ACTLR on
 * Armv7/v8; p15 0 c12 c0 1 is MVBAR with EL3 and RVBAR without), the name this CPU's list calls
 * for. Build it once per list with nameContext.
 */
export interface NameContext {
  /** The name of each CPU-dependent id of the list. */
  readonly names: ReadonlyMap<RegId, string>;
}

const NO_CONTEXT: NameContext = { names: new Map() };

/**
 * The context of one vCPU's list. QEMU registers its register tables whole, per CPU feature, so a
 * list that holds an id only one table migrates (its signature) is from a CPU with that table.
 * A CPU-dependent id takes the name of the first of its meanings whose table is present, else
 * of the first whose table cannot be told either way, else the default (the Armv7/v8 meaning).
 */
export function nameContext(list: Iterable<RegId>): NameContext {
  const m = nameMaps();
  const ids = new Set(list);
  const names = new Map<RegId, string>();
  // Per table: present (true), absent (false), or not recognisable (undefined: no signature).
  const present = new Map<number, boolean | undefined>();
  const isPresent = (scope: number): boolean | undefined => {
    if (present.has(scope)) return present.get(scope);
    const sig = m.scopes[scope]?.signature ?? [];
    const p = sig.length === 0 ? undefined : sig.some((id) => ids.has(id));
    present.set(scope, p);
    return p;
  };
  for (const [id, v] of m.variants) {
    if (!ids.has(id)) continue;
    const def = m.common.get(id);
    if (def === undefined) continue;
    const candidates = [{ name: def, scope: v.scope }, ...v.others];
    const chosen =
      candidates.find((c) => isPresent(c.scope) === true) ??
      candidates.find((c) => isPresent(c.scope) === undefined) ??
      candidates[0];
    if (chosen && chosen.name !== def) names.set(id, chosen.name);
  }
  return names.size === 0 ? NO_CONTEXT : { names };
}

/** The real name of a register under an accelerator, or undefined when it has none. */
function realName(id: RegId, accelerator: Accelerator, context: NameContext = NO_CONTEXT): string | undefined {
  const m = nameMaps();
  // One number, two registers: KVM's timer ids are not the architectural encodings.
  if (accelerator === 'kvm') {
    const kvm = m.kvm.get(id);
    if (kvm !== undefined) return kvm;
  }
  return context.names.get(id) ?? m.common.get(id) ?? kvmRuleName(id);
}

/**
 * The name of a register and whether it is generic. `context` (nameContext of the vCPU's list)
 * settles the few ids whose register depends on the CPU; without it they get their Armv7/v8 name.
 */
export function registerInfo(id: RegId, accelerator: Accelerator, context?: NameContext): RegisterInfo {
  const real = realName(id, accelerator, context);
  return real === undefined ? { name: genericName(id), generic: true } : { name: real, generic: false };
}

/** registerInfo of every id of one list, in its order, with the list's own context. */
export function registerInfos(ids: Iterable<RegId>, accelerator: Accelerator): RegisterInfo[] {
  const list = [...ids];
  const context = nameContext(list);
  return list.map((id) => registerInfo(id, accelerator, context));
}

/** Always returns a name: the real one where one exists, else the generic form. */
export function registerName(id: RegId, accelerator: Accelerator, context?: NameContext): string {
  return registerInfo(id, accelerator, context).name;
}

/** True when registerName returns a real (not generic) name. */
export function hasRealName(id: RegId, accelerator: Accelerator): boolean {
  return realName(id, accelerator) !== undefined;
}

/** Case- and spacing-insensitive form of a name, for comparison. */
function normalize(name: string): string {
  return name.trim().replace(/\s+/g, ' ').replace(/\(\s*/g, '(').replace(/\s*\)/g, ')').toUpperCase();
}

/**
 * The normalized names a lookup compares (the real one, if any; other accepted names, such as
 * QEMU's own where the table has the architecture's; the generic form), memoized per id: a list
 * is searched by name often, and building generic names is the costly part. Bounded by the ids
 * the service sees; cleared if that ever grows past any real register space. CPU-dependent ids are
 * not memoized (their name depends on the list).
 */
const memo = { kvm: new Map<RegId, readonly string[]>(), other: new Map<RegId, readonly string[]>() };
const MEMO_LIMIT = 1 << 16;

function computeKeys(id: RegId, accelerator: Accelerator, context: NameContext): readonly string[] {
  const keys: string[] = [];
  const real = realName(id, accelerator, context);
  if (real !== undefined) keys.push(normalize(real));
  for (const alias of nameMaps().aliases.get(id) ?? []) keys.push(normalize(alias));
  keys.push(normalize(genericName(id)));
  return keys;
}

function lookupKeys(id: RegId, accelerator: Accelerator, context: NameContext): readonly string[] {
  if (nameMaps().variants.has(id)) return computeKeys(id, accelerator, context);
  const m = accelerator === 'kvm' ? memo.kvm : memo.other;
  let keys = m.get(id);
  if (keys === undefined) {
    keys = computeKeys(id, accelerator, NO_CONTEXT);
    if (m.size >= MEMO_LIMIT) m.clear();
    m.set(id, keys);
  }
  return keys;
}

/** Finds registers of one list by name; build once per list, look up many times. */
export interface NameIndex {
  /** As findRegisterByName. */
  find(name: string): RegId;
}

/**
 * An index of the names (real and generic, normalized) of `candidates` (one vCPU's list) under an
 * accelerator; CPU-dependent ids are named by the list's own context (nameContext).
 */
export function indexByName(candidates: Iterable<RegId>, accelerator: Accelerator): NameIndex {
  const list = [...candidates];
  const context = nameContext(list);
  const byKey = new Map<string, RegId[]>();
  for (const id of list) {
    for (const key of lookupKeys(id, accelerator, context)) {
      const ids = byKey.get(key);
      if (!ids) byKey.set(key, [id]);
      else if (!ids.includes(id)) ids.push(id);
    }
  }
  return {
    find(name: string): RegId {
      const ids = [...(byKey.get(normalize(String(name))) ?? [])].sort(compareRegIds);
      const shown = JSON.stringify(String(name).slice(0, 80));
      const [id] = ids;
      if (id === undefined) {
        throw new DomainError('unknown-register', `no register named ${shown} in this vCPU's list (${accelerator})`);
      }
      if (ids.length > 1) {
        throw new DomainError(
          'ambiguous-name',
          `${shown} names ${ids.length} registers in this vCPU's list (${ids.map(formatRegId).join(', ')}); use the id`,
          ids,
        );
      }
      return id;
    },
  };
}

/**
 * Resolve a name to an id among `candidates` (a vCPU's list). Case-insensitive. Throws DomainError
 * kind 'unknown-register' if no candidate has that name, 'ambiguous-name' (with the ids) if several do.
 * Generic forms (S3_3_C13_C0_2, "p15 0 c13 c0 3", with " (NS)") are accepted too.
 */
export function findRegisterByName(name: string, accelerator: Accelerator, candidates: readonly RegId[]): RegId {
  return indexByName(candidates, accelerator).find(name);
}
