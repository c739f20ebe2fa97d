import type { Accelerator } from '../accelerator';
import { DomainError } from '../errors';
import { type RegId, compareRegIds, formatRegId } from '../regid';
import { genericName } from './generic';
import { kvmRuleName } from './kvm-rules';
import { nameMaps } from './tables';

export { genericName } from './generic';

/** The real name of a register under an accelerator, or undefined when it has none. */
function realName(id: RegId, accelerator: Accelerator): string | undefined {
  const m = nameMaps();
  // One number, two registers: KVM's timer ids are not the architectural encodings.
  if (accelerator === 'kvm') {
    const kvm = m.kvm.get(id);
    if (kvm !== undefined) return kvm;
  }
  return m.common.get(id) ?? kvmRuleName(id);
}

/** Always returns a name: the real one where one exists, else the generic form. */
export function registerName(id: RegId, accelerator: Accelerator): string {
  return realName(id, accelerator) ?? genericName(id);
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
 * The normalized names (real, if any, and generic) a lookup compares, memoized per id: a list
 * is searched by name often, and building generic names is the costly part. Bounded by the ids
 * the service sees; cleared if that ever grows past any real register space.
 */
const memo = { kvm: new Map<RegId, readonly string[]>(), other: new Map<RegId, readonly string[]>() };
const MEMO_LIMIT = 1 << 16;

function lookupKeys(id: RegId, accelerator: Accelerator): readonly string[] {
  const m = accelerator === 'kvm' ? memo.kvm : memo.other;
  let keys = m.get(id);
  if (keys === undefined) {
    const real = realName(id, accelerator);
    keys = real === undefined ? [normalize(genericName(id))] : [normalize(real), normalize(genericName(id))];
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

/** An index of the names (real and generic, normalized) of `candidates` under an accelerator. */
export function indexByName(candidates: Iterable<RegId>, accelerator: Accelerator): NameIndex {
  const byKey = new Map<string, RegId[]>();
  for (const id of candidates) {
    for (const key of lookupKeys(id, accelerator)) {
      const ids = byKey.get(key);
      if (!ids) byKey.set(key, [id]);
      else if (!ids.includes(id)) ids.push(id);
    }
  }
  return {
    find(name: string): RegId {
      const ids = [...(byKey.get(normalize(String(name))) ?? [])].sort(compareRegIds);
      const shown = JSON.stringify(String(name).slice(0, 80));
      if (ids.length === 0) {
        throw new DomainError('unknown-register', `no register named ${shown} in this vCPU's list (${accelerator})`);
      }
      if (ids.length > 1) {
        throw new DomainError(
          'ambiguous-name',
          `${shown} names ${ids.length} registers in this vCPU's list (${ids.map(formatRegId).join(', ')}); use the id`,
          ids,
        );
      }
      return ids[0];
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
