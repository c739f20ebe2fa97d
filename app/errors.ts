import type { Accelerator } from '../domain/accelerator';
import { DomainError } from '../domain/errors';

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
