import type { Accelerator } from '../domain/accelerator';
import { DomainError } from '../domain/errors';
import type { Finding, Prediction } from './fleet';

export { ConcurrencyError, IdempotencyConflictError } from '../storage/event-store';

/**
 * A refusal by the domain, with what is needed to show it: the accelerator names its
 * registers (one id can be two registers), `vcpuId` says which vCPU of a VM refused.
 */
export class Refused extends Error {
  constructor(
    readonly error: DomainError,
    readonly accelerator: Accelerator | undefined,
    readonly vcpuId?: string,
  ) {
    super(vcpuId === undefined ? error.message : `${vcpuId}: ${error.message}`);
    this.name = 'Refused';
  }

  /** A pre-flight's refusal carries QEMU's verdict too (and the vCPU that names its registers). */
  prediction?: Prediction & { state: unknown };

  get kind() {
    return this.error.kind;
  }
}

/** Runs `fn`; a DomainError it throws comes out as a Refused with this context. */
export function refusing<T>(accelerator: Accelerator | undefined, vcpuId: string | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DomainError) throw new Refused(e, accelerator, vcpuId);
    throw e;
  }
}

export type NotFoundKind = 'vcpu-not-found' | 'version-not-found' | 'profile-not-found';

export class NotFoundError extends Error {
  constructor(
    readonly kind: NotFoundKind,
    message: string,
  ) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** A write's version condition (If-Match / If-None-Match) does not hold: nothing was recorded. */
export class PreconditionFailedError extends Error {
  constructor(
    readonly streamId: string,
    /** The vCPU's version when the condition was evaluated (0: it does not exist). */
    readonly actualVersion: number,
    readonly expected: string,
    /** The versions If-Match named (when it named versions). */
    readonly expectedVersions?: readonly number[],
  ) {
    super(
      actualVersion === 0
        ? `no vCPU ${streamId} exists; the write required ${expected}`
        : `the vCPU is at version ${actualVersion}; the write required ${expected}`,
    );
    this.name = 'PreconditionFailedError';
  }
}

/**
 * A write refused under `Prefer: handling=strict` (or a stream rewrite): the vCPU's own QEMU would
 * refuse the values, or lose them. `state` names the registers. Nothing was recorded.
 */
export class QemuWouldRefuseError extends Error {
  constructor(
    readonly streamId: string,
    readonly accelerator: Accelerator | undefined,
    readonly state: unknown,
    readonly findings: readonly Finding[],
    message?: string,
  ) {
    super(
      message ??
        `${streamId}: ${findings.map((f) => f.message).join('; ')} (refused: Prefer: handling=strict; nothing recorded)`,
    );
    this.name = 'QemuWouldRefuseError';
  }
}
