import { indexOfReg, readValueAt, type CpregArrays } from '../cpreg-arrays';
import { machineOptions, registerModelFor, registerModels } from '../register-model/model';
import type { QemuVersion, RegisterModel } from '../register-model/types';

/** What is known of the QEMU a list comes from (all optional). */
export interface ModelHints {
  qemu?: QemuVersion;
  /** The -cpu value ("max,pauth=off" is max). */
  cpu?: string;
  binary?: string;
  /** The machine type its stream records ("virt-7.2", "virt-10.0"). */
  machineType?: string;
}

function sameIds(a: BigUint64Array, b: BigUint64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Constants (neither vCPU- nor time-dependent) the list holds with another value than the model's. */
function constantMismatches(m: RegisterModel, arrays: CpregArrays): number {
  let n = 0;
  for (const f of m.facts) {
    if (f.keep !== 0n || f.varies || f.volatile) continue;
    const i = indexOfReg(arrays, f.id);
    if (i >= 0 && readValueAt(arrays, i) !== f.reset) n++;
  }
  return n;
}

const OPTION_SETS = ['secure=on', 'virtualization=on', 'secure=on,virtualization=on'] as const;
let signatures: Map<string, Set<bigint>> | undefined;

/**
 * Per QEMU version, binary and machine option set, every id a CPU model's list measured
 * with those options holds beyond its plain list, over all the CPU models measured so: what the
 * options add (EL3 and the Secure banks, EL2; secure=on alone also lists most of EL2's registers).
 */
function optionSignatures(): Map<string, Set<bigint>> {
  if (signatures) return signatures;
  signatures = new Map();
  const all = registerModels();
  for (const v of all) {
    const opts = machineOptions(v.machine);
    if (opts === '' || v.machine.split(',')[0] !== 'virt') continue;
    const plain = all.find(
      (p) => p.qemu === v.qemu && p.binary === v.binary && p.cpu === v.cpu && p.machine === 'virt',
    );
    if (!plain) continue;
    const own = new Set(plain.ids);
    const key = `${v.qemu} ${v.binary} ${opts}`;
    const set = signatures.get(key) ?? new Set<bigint>();
    for (const id of v.ids) if (!own.has(id)) set.add(id);
    signatures.set(key, set);
  }
  return signatures;
}

/**
 * The machine options a list of this CPU model was made with: the ids it holds beyond the model's
 * plain list, compared with what each option set adds to the lists measured with it (the best
 * share of ids in common); none beyond it, no options.
 */
export function inferMachineOptions(
  qemu: QemuVersion,
  arrays: CpregArrays,
  cpu: string,
  binary = 'qemu-system-aarch64',
): string[] {
  const plain = registerModels().find(
    (m) => m.qemu === qemu && m.cpu === cpu && m.binary === binary && m.machine === 'virt',
  );
  if (!plain) return [];
  const own = new Set(plain.ids);
  const extra = [...arrays.cpregIndexes].filter((id) => !own.has(id));
  if (extra.length === 0) return [];
  let best: string | undefined;
  let top = 0;
  for (const opts of OPTION_SETS) {
    const sig = optionSignatures().get(`${qemu} ${binary} ${opts}`);
    if (!sig) continue;
    const both = extra.filter((id) => sig.has(id)).length;
    const score = both / (extra.length + sig.size - both);
    if (score > top) [top, best] = [score, opts];
  }
  return best ? best.split(',') : [];
}

/** The -M value of a machine type on a QEMU version: its own newest type is plain "virt". */
function machineOf(machineType: string | undefined, qemu: QemuVersion): string {
  if (!machineType || machineType === `virt-${qemu}` || machineType === 'virt') return 'virt';
  return machineType;
}

/**
 * The measured model of the QEMU a list comes from. First a model measured with exactly this list
 * (CPU model, binary and machine options told apart by their ids; among several, the one whose
 * constants match best); else, given the QEMU version and CPU model, that model for the machine
 * options the list's ids show (registerModelFor fills what was not measured from its siblings);
 * else, without them, the measured model whose list is nearest (at least 90 % of the ids of the two
 * lists in common: `-cpu max,pauth=off` is max's) — its facts for the ids they share, the
 * structural rules for the others; else undefined (the structural rules apply).
 */
export function identifyModel(arrays: CpregArrays, hints: ModelHints = {}): RegisterModel | undefined {
  const cpu = hints.cpu?.split(',')[0];
  const exact = modelsWithIds(arrays.cpregIndexes).filter(
    (m) =>
      (!hints.qemu || m.qemu === hints.qemu) && (!cpu || m.cpu === cpu) && (!hints.binary || m.binary === hints.binary),
  );
  if (exact.length === 1) return exact[0];
  if (exact.length > 1) {
    return exact.map((m) => ({ m, miss: constantMismatches(m, arrays) })).sort((a, b) => a.miss - b.miss)[0]!.m;
  }
  if (!hints.qemu || !cpu) return nearestModel(arrays, hints, cpu);
  const base = machineOf(hints.machineType, hints.qemu);
  const binary =
    hints.binary ?? (arrays.cpregIndexes.some((id) => id >> 56n === 0x60n) ? 'qemu-system-aarch64' : 'qemu-system-arm');
  const options = base === 'virt' ? inferMachineOptions(hints.qemu, arrays, cpu, binary) : [];
  const machine = [base, ...options].join(',');
  const key = `${hints.qemu} ${binary} ${cpu} ${machine}`;
  if (!byQuery.has(key)) byQuery.set(key, registerModelFor({ qemu: hints.qemu, cpu, binary, machine }));
  return byQuery.get(key);
}

// Lists are shared between vCPUs of one layout (never mutated): their candidates are computed once.
const byIds = new WeakMap<BigUint64Array, readonly RegisterModel[]>();
const byQuery = new Map<string, RegisterModel | undefined>();

function modelsWithIds(ids: BigUint64Array): readonly RegisterModel[] {
  let out = byIds.get(ids);
  if (!out) {
    out = registerModels().filter((m) => sameIds(m.ids, ids));
    byIds.set(ids, out);
  }
  return out;
}

/** The share of ids two ascending lists have in common (of their union). */
function overlap(a: BigUint64Array, b: BigUint64Array): number {
  let i = 0;
  let j = 0;
  let both = 0;
  while (i < a.length && j < b.length) {
    if (a[i]! === b[j]!) {
      both++;
      i++;
      j++;
    } else if (a[i]! < b[j]!) i++;
    else j++;
  }
  return both / (a.length + b.length - both);
}

const NEAREST = 0.9;
const nearestByIds = new WeakMap<BigUint64Array, Map<string, readonly RegisterModel[]>>();

/** The models nearest to a list no model was measured with (ties: the constants decide). */
function nearestModel(arrays: CpregArrays, hints: ModelHints, cpu: string | undefined): RegisterModel | undefined {
  const ids = arrays.cpregIndexes;
  const key = `${hints.qemu ?? ''} ${cpu ?? ''} ${hints.binary ?? ''}`;
  let byHints = nearestByIds.get(ids);
  if (!byHints) nearestByIds.set(ids, (byHints = new Map()));
  let best = byHints.get(key);
  if (!best) {
    let top = NEAREST;
    let found: RegisterModel[] = [];
    for (const m of registerModels()) {
      if (
        (hints.qemu && m.qemu !== hints.qemu) ||
        (cpu && m.cpu !== cpu) ||
        (hints.binary && m.binary !== hints.binary)
      )
        continue;
      const o = overlap(ids, m.ids);
      if (o > top) [top, found] = [o, [m]];
      else if (o === top) found.push(m);
    }
    best = found;
    byHints.set(key, best);
  }
  if (best.length <= 1) return best[0];
  return best.map((m) => ({ m, miss: constantMismatches(m, arrays) })).sort((a, b) => a.miss - b.miss)[0]!.m;
}
