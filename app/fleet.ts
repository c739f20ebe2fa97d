import { layoutArrays, readValueAt, writeValueAt, type CpregArrays } from '../domain/cpreg-arrays';
import { DomainError } from '../domain/errors';
import type { HostProfile } from '../domain/host-profile/profile';
import type { RegId } from '../domain/regid';
import type { VcpuState } from '../domain/vcpu';
import { planLoad } from '../domain/vmstate/load';

export interface ProfileInput {
  accelerator: 'tcg' | 'kvm';
  qemu: string;
  cpuModel: string | undefined;
  machine: string | null;
  ids: readonly RegId[];
  values: readonly bigint[];
  labels: Record<string, string>;
  writableMasks?: ReadonlyMap<RegId, bigint> | null;
}

/** The CPU models whose measured constants a list matches, for one QEMU version. */
export type Fingerprint = (qemu: string, ids: readonly RegId[], values: readonly bigint[]) => string[];

/** One register a finding is about, with the values that make the finding (the domain's RegisterFinding). */
export interface FindingRegister {
  readonly id: RegId;
  /** Where the register's behaviour comes from: `measured`, `rule`, `kvm-writable-mask`. */
  readonly basis?: string;
  readonly incoming?: bigint;
  readonly destination?: bigint;
  /** The bits the destination keeps. */
  readonly keeps?: bigint;
  /** What it reads after the load (overwritten-on-load, missing-register). */
  readonly becomes?: bigint;
  /** The register whose write replaces this one's value. */
  readonly by?: RegId;
}

/** A reason QEMU would refuse the load, or a warning that a value will not survive it. */
export interface Finding {
  readonly rule: string;
  readonly message: string;
  /** How many registers the rule applies to (`registers` may be cut short). */
  readonly count?: number;
  readonly registers: readonly FindingRegister[];
}

export interface Prediction {
  readonly verdict: 'accepted' | 'refused';
  readonly reasons: readonly Finding[];
  readonly warnings: readonly Finding[];
}

/** QEMU's cpu_post_load verdict for a vCPU's list loaded on a host, predicted (hosts prepared once). */
export interface Predictor<P> {
  prepare(host: HostProfile): P;
  predict(incoming: CpregArrays, host: P, opts?: MatrixOptions): Prediction;
}

export interface MatrixOptions {
  /** At most this many registers per finding (`count` says how many): a matrix stays small. */
  maxRegistersPerFinding?: number;
}

/** A profile's list as QEMU-shaped arrays (its values in their slots). */
export function profileArrays(p: HostProfile): CpregArrays {
  const a = layoutArrays(BigUint64Array.from(p.ids));
  p.ids.forEach((_, i) => writeValueAt(a, i, p.values[i]!));
  return a;
}

/**
 * The verdict by QEMU's merge rules alone (the migration pre-flight's): more registers than the
 * destination, a register it lacks, a read-only identification register that differs.
 */
export const mergeRulesPredictor: Predictor<CpregArrays> = {
  prepare: profileArrays,
  predict: (incoming, dest) => mergeRules(incoming, dest),
};

function mergeRules(incoming: CpregArrays, dest: CpregArrays): Prediction {
  try {
    const plan = planLoad(dest, incoming);
    const differs = plan.warnings.map((w) => w.register);
    if (!differs.length) return { verdict: 'accepted', reasons: [], warnings: [] };
    return {
      verdict: 'refused',
      reasons: [
        {
          rule: 'constant-differs',
          message: "a read-only identification register differs from the destination's constant",
          registers: differs.map((id) => ({
            id,
            incoming: readValueAt(incoming, incoming.cpregIndexes.indexOf(id)),
            destination: readValueAt(dest, dest.cpregIndexes.indexOf(id)),
          })),
        },
      ],
      warnings: [],
    };
  } catch (e) {
    if (!(e instanceof DomainError)) throw e;
    const more = incoming.cpregIndexes.length > dest.cpregIndexes.length;
    return {
      verdict: 'refused',
      reasons: [
        {
          rule: more ? 'more-registers' : 'unknown-register',
          message: e.message,
          registers: e.registers.map((id) => ({
            id,
            incoming: readValueAt(incoming, incoming.cpregIndexes.indexOf(id)),
          })),
        },
      ],
      warnings: [],
    };
  }
}

export interface PairVerdict extends Prediction {
  cpu: string;
  hostProfile: string;
  /** The vCPU's state, for naming its registers. */
  state: VcpuState;
}

/** Fleet questions: host profiles built from what a host migrates, and which hosts take a vCPU. */
export class Fleet {
  constructor(
    private readonly fingerprint: Fingerprint = () => [],
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each predictor's own prepared form
    private readonly predictor: Predictor<any> = mergeRulesPredictor,
  ) {}

  /**
   * The same pairs, one vCPU's row at a time (each host prepared once): a large matrix is answered
   * as it is computed, never held whole.
   */
  *rows(
    cpus: ReadonlyArray<{ id: string; state: VcpuState }>,
    hosts: ReadonlyArray<{ id: string; profile: HostProfile }>,
    opts: MatrixOptions = {},
  ): Generator<PairVerdict[]> {
    const prepared: unknown[] = hosts.map((h) => this.predictor.prepare(h.profile));
    for (const c of cpus) {
      yield hosts.map((h, k) => ({
        cpu: c.id,
        hostProfile: h.id,
        state: c.state,
        ...this.predictor.predict(c.state.arrays, prepared[k], opts),
      }));
    }
  }

  /** Every pair of the given vCPUs and profiles, vCPU-major. */
  matrix(
    cpus: ReadonlyArray<{ id: string; state: VcpuState }>,
    hosts: ReadonlyArray<{ id: string; profile: HostProfile }>,
    opts: MatrixOptions = {},
  ) {
    const pairs = [...this.rows(cpus, hosts, opts)].flat();
    return { cpus: cpus.map((c) => c.id), hostProfiles: hosts.map((h) => h.id), pairs };
  }

  /** A profile from a host's list; without a cpuModel, the one CPU model whose constants match. */
  profileFromBlock(p: ProfileInput): HostProfile {
    let cpuModel = p.cpuModel;
    if (cpuModel === undefined) {
      const matches = p.accelerator === 'tcg' ? this.fingerprint(p.qemu, p.ids, p.values) : [];
      if (matches.length !== 1) {
        throw new DomainError(
          'invalid-command',
          matches.length === 0
            ? `no CPU model of QEMU ${p.qemu} has these constants; give cpuModel`
            : `the constants match several CPU models of QEMU ${p.qemu} (${matches.join(', ')}); give cpuModel`,
        );
      }
      cpuModel = matches[0]!;
    }
    return {
      accelerator: p.accelerator,
      qemu: p.qemu,
      cpuModel,
      machine: p.machine,
      ids: p.ids,
      values: p.values,
      writableMasks: p.writableMasks ?? null,
      labels: p.labels,
    };
  }
}
