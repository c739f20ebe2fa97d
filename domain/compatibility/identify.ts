import type { CpregArrays } from '../cpreg-arrays';
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

/** Constants (neither vCPU- nor time-dependent) whose value in the list is not the model's. */
function constantMismatches(m: RegisterModel, arrays: CpregArrays): number {
  let n = 0;
  m.facts.forEach((f, i) => {
    if (f.keep !== 0n || f.varies || f.volatile) return;
    if (arrays.cpregValues[arrays.cpregValueIndexes[i]!] !== f.reset) n++;
  });
  return n;
}

let markers: Map<string, Set<bigint>> | undefined;

/**
 * Per QEMU version and machine option ("7.2 secure=on"), the ids that only lists measured with that
 * option hold (a variant's list less the plain list of the same CPU model): EL3 and Secure banks for
 * secure=on, EL2 for virtualization=on. A list holding one of them was made with that option.
 */
function optionMarkers(): Map<string, Set<bigint>> {
  if (markers) return markers;
  markers = new Map();
  const all = registerModels();
  for (const v of all) {
    const opts = machineOptions(v.machine);
    if (opts === '' || opts.includes(',')) continue;
    const plain = all.find(
      (p) => p.qemu === v.qemu && p.binary === v.binary && p.cpu === v.cpu && p.machine === 'virt',
    );
    if (!plain) continue;
    const own = new Set(plain.ids);
    const key = `${v.qemu} ${opts}`;
    const set = markers.get(key) ?? new Set<bigint>();
    for (const id of v.ids) if (!own.has(id)) set.add(id);
    markers.set(key, set);
  }
  return markers;
}

/** The machine options a list was made with, from the ids only such lists hold. */
export function inferMachineOptions(qemu: QemuVersion, arrays: CpregArrays): string[] {
  const out: string[] = [];
  for (const opt of ['secure=on', 'virtualization=on']) {
    const set = optionMarkers().get(`${qemu} ${opt}`);
    if (set && arrays.cpregIndexes.some((id) => set.has(id))) out.push(opt);
  }
  return out;
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
 * else undefined (the structural rules apply).
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
  if (!hints.qemu || !cpu) return undefined;
  const base = machineOf(hints.machineType, hints.qemu);
  const options = base === 'virt' ? inferMachineOptions(hints.qemu, arrays) : [];
  const binary =
    hints.binary ?? (arrays.cpregIndexes.some((id) => id >> 56n === 0x60n) ? 'qemu-system-aarch64' : 'qemu-system-arm');
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
