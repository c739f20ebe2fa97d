import type { RegId } from './regid';

/**
 * Every refusal the domain can make. `api/` maps each kind to an HTTP status in one table,
 * so a kind is a stable contract: add kinds, never rename them.
 */
export type DomainErrorKind =
  | 'invalid-reg-id' // text or bits that are not a register id
  | 'invalid-value' // a value that is not hex, or wider than its register
  | 'invalid-register-list' // duplicates, wrong architecture, class or size for the accelerator
  | 'unknown-register' // a register the vCPU's list does not hold
  | 'ambiguous-name' // a name that means more than one register
  | 'malformed-blob' // truncated, trailing bytes, bad counts, unsorted ids, bad value indexes
  | 'blob-rejected' // a well-formed blob this vCPU cannot load (QEMU would fail the migration)
  | 'not-representable' // v22 export of registers wider than 8 bytes
  | 'vcpu-exists'
  | 'vcpu-not-found'
  | 'invalid-command';

export class DomainError extends Error {
  readonly kind: DomainErrorKind;
  /** The registers the refusal is about, ascending; empty when it is about none in particular. */
  readonly registers: readonly RegId[];

  constructor(kind: DomainErrorKind, message: string, registers: readonly RegId[] = []) {
    super(message);
    this.name = 'DomainError';
    this.kind = kind;
    this.registers = registers;
  }
}

export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError;
}
