import { DomainError } from '../domain/errors';
import type { HostProfile } from '../domain/host-profile/profile';
import type { RegId } from '../domain/regid';

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

/** Fleet questions: host profiles built from what a host migrates, and which hosts take a vCPU. */
export class Fleet {
  constructor(private readonly fingerprint: Fingerprint = () => []) {}

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
