import type { RegId } from '../regid';
import { QEMU_10_0_MODELS } from './qemu-10.0.generated';
import { QEMU_7_2_MODELS } from './qemu-7.2.generated';
import type { GeneratedModel, QemuVersion, RegisterFact, RegisterModel, RegisterWriter } from './types';

const M64 = (1n << 64n) - 1n;

function keepOf(text: string): bigint {
  if (text === '') return 0n;
  if (text === 'F') return M64;
  if (text === 'L') return 0xffffffffn;
  return BigInt('0x' + text);
}

/** Decodes one generated model (the format of encodeRegs in scripts/probe-register-model.ts). */
export function decodeModel(g: GeneratedModel): RegisterModel {
  const entries = g.regs === '' ? [] : g.regs.split(' ');
  const ids = new BigUint64Array(entries.length);
  const facts: RegisterFact[] = [];
  entries.forEach((entry, i) => {
    const [idText = '', keepText = '', resetText = '0', ...flags] = entry.split(',');
    const id = BigInt('0x' + idText);
    ids[i] = id;
    const keep = keepOf(keepText);
    let unverified = 0n;
    let varies = false;
    let volatile = false;
    let unstable = 0n;
    let anomalous = false;
    const writers: RegisterWriter[] = [];
    for (const f of flags) {
      if (f.startsWith('r')) unverified = M64 & ~keep & ~BigInt('0x' + f.slice(1));
      else if (f === 'v') varies = true;
      else if (f === 't') volatile = true;
      else if (f.startsWith('x')) unstable = f === 'x' ? keep : BigInt('0x' + f.slice(1));
      else if (f === 'a') anomalous = true;
      else if (f.startsWith('o')) {
        const [by = '0', shift = 'n', cover = '0'] = f.slice(1).split(':');
        writers.push({
          by: BigInt('0x' + by),
          shift: shift === 'n' ? null : Number(shift),
          cover: BigInt('0x' + cover),
        });
      }
    }
    const overwritten = writers.some((w) => w.by > id && (w.cover & keep) !== 0n);
    facts.push({
      id,
      kind: keep === 0n ? 'constant' : overwritten ? 'overwritten' : 'writable',
      keep,
      unverified,
      reset: BigInt('0x' + resetText),
      varies,
      volatile,
      writers,
      unstable,
      anomalous,
    });
  });
  const index = new Map<RegId, number>();
  ids.forEach((id, i) => index.set(id, i));
  return {
    qemu: g.qemu as QemuVersion,
    binary: g.binary,
    cpu: g.cpu,
    machine: g.machine,
    machineType: g.machineType,
    ids,
    facts,
    fact: (id) => {
      const i = index.get(id);
      return i === undefined ? undefined : facts[i];
    },
  };
}

/** The QEMU versions measured (a version given as "7.2" or "10.0"). */
export function isMeasuredQemu(v: string): v is QemuVersion {
  return v === '7.2' || v === '10.0';
}

let all: readonly RegisterModel[] | undefined;

/** Every measured model (QEMU 7.2 and 10.0), decoded once. */
export function registerModels(): readonly RegisterModel[] {
  all ??= withSharedUnstableBits([...QEMU_7_2_MODELS, ...QEMU_10_0_MODELS].map(decodeModel));
  return all;
}

/**
 * Bits QEMU recomputes after a load (a timer's ISTATUS, from the timer's state at that moment) are
 * recomputed by the same code for every CPU model of a QEMU version, but a probe sees them only
 * when the timer happened to fire: each register's unstable bits are the union over the models of
 * its QEMU version.
 */
function withSharedUnstableBits(models: RegisterModel[]): RegisterModel[] {
  const union = new Map<string, bigint>();
  for (const m of models)
    for (const f of m.facts) {
      if (f.unstable === 0n) continue;
      const key = `${m.qemu} ${f.id}`;
      union.set(key, (union.get(key) ?? 0n) | f.unstable);
    }
  return models.map((m) => {
    if (!m.facts.some((f) => (union.get(`${m.qemu} ${f.id}`) ?? 0n) !== f.unstable)) return m;
    const facts = m.facts.map((f) => {
      const u = union.get(`${m.qemu} ${f.id}`) ?? 0n;
      return u === f.unstable ? f : { ...f, unstable: u };
    });
    const index = new Map<RegId, RegisterFact>(facts.map((f) => [f.id, f]));
    return { ...m, facts, fact: (id: RegId) => index.get(id) };
  });
}

export interface ModelQuery {
  qemu: QemuVersion;
  cpu: string;
  /** Default qemu-system-aarch64 (its list for a 32-bit CPU model can differ from qemu-system-arm's). */
  binary?: string;
  /** The -M value; default "virt" (e.g. "virt-7.2" for QEMU 10.0 running a 7.2 machine). */
  machine?: string;
}

/** The measured model of exactly this QEMU, binary, CPU model and machine, if there is one. */
export function findRegisterModel(q: ModelQuery): RegisterModel | undefined {
  const binary = q.binary ?? 'qemu-system-aarch64';
  const machine = q.machine ?? 'virt';
  return registerModels().find(
    (m) => m.qemu === q.qemu && m.binary === binary && m.cpu === q.cpu && m.machine === machine,
  );
}

/** A -M value's options, sorted ("virt,virtualization=on,secure=on" → "secure=on,virtualization=on"). */
export function machineOptions(machine: string): string {
  return machine.split(',').slice(1).sort().join(',');
}

function sameFact(a: RegisterFact, b: RegisterFact): boolean {
  const w = (f: RegisterFact): string =>
    f.writers
      .map((x) => `${x.by}:${x.shift}:${x.cover}`)
      .sort()
      .join(' ');
  return a.keep === b.keep && a.unstable === b.unstable && w(a) === w(b);
}

/**
 * The model of a QEMU, CPU model (options after a comma are ignored: "max,pauth=off" is max) and
 * machine, with a lookup that falls back, for ids that exact model lacks — or when that exact
 * model was not measured (another machine option set) — to the other measured models of that
 * QEMU version:
 * 1. the same CPU model with the same machine options;
 * 2. where another CPU model was measured both with these machine options and without, and its two
 *    facts for the id are the same, the options do not matter for that id: this CPU model's fact
 *    without options; where they differ, the other model's fact with these options (EL3 banks the
 *    AArch32 registers, EL2 changes VBAR_EL1 and the timers);
 * 3. then any model: the same CPU model first, then the same binary.
 * Undefined when this CPU model was not measured at all.
 */
export function registerModelFor(q: ModelQuery): RegisterModel | undefined {
  const binary = q.binary ?? 'qemu-system-aarch64';
  const machine = q.machine ?? 'virt';
  const cpu = q.cpu.split(',')[0] ?? q.cpu;
  const options = machineOptions(machine);
  const models = registerModels().filter((m) => m.qemu === q.qemu);
  const ofCpu = models.filter((m) => m.cpu === cpu && m.binary === binary);
  if (ofCpu.length === 0) return undefined;
  const name = machine.split(',')[0];
  const exact = ofCpu.find((m) => m.machine.split(',')[0] === name && machineOptions(m.machine) === options);
  const sameOptions = ofCpu.filter((m) => m !== exact && machineOptions(m.machine) === options);
  const plain = ofCpu.find((m) => m.machine === 'virt');
  // Other CPU models measured with these options, each with its plain sibling.
  const pairs = models
    .filter((m) => m.cpu !== cpu && options !== '' && machineOptions(m.machine) === options)
    .sort((a, b) => Number(b.binary === binary) - Number(a.binary === binary))
    .map((m) => ({ m, plain: models.find((p) => p.cpu === m.cpu && p.binary === m.binary && p.machine === 'virt') }));
  const rest = models.filter((m) => m !== exact && !sameOptions.includes(m)).sort((a, b) => rank(a) - rank(b));
  function rank(m: RegisterModel): number {
    return (m.cpu === cpu ? 0 : 2) + (m.binary === binary ? 0 : 1);
  }
  const own = exact ?? sameOptions[0] ?? plain ?? ofCpu[0]!;
  const cache = new Map<RegId, RegisterFact | undefined>();
  const lookup = (id: RegId): RegisterFact | undefined => {
    const e = exact?.fact(id);
    if (e) return e;
    for (const m of sameOptions) {
      const f = m.fact(id);
      if (f) return f;
    }
    for (const { m, plain: p } of pairs) {
      const withOptions = m.fact(id);
      if (!withOptions) continue;
      const without = p?.fact(id);
      const mine = plain?.fact(id);
      if (without && mine && sameFact(withOptions, without)) return mine;
      return withOptions;
    }
    for (const m of rest) {
      const f = m.fact(id);
      if (f) return f;
    }
    return undefined;
  };
  return {
    ...own,
    fact: (id) => {
      if (cache.has(id)) return cache.get(id);
      const f = lookup(id);
      cache.set(id, f);
      return f;
    },
  };
}
