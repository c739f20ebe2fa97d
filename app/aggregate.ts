import type { Accelerator } from '../domain/accelerator';
import type { EventPayload, NewEvent } from '../storage/event-store';

/**
 * What the application needs of one aggregate's pure domain code (a decider and its codecs) to
 * load its streams and run its commands: a vCPU (app/vcpu-aggregate.ts), a host profile.
 */
export interface Aggregate<C, E, S> {
  /** The kind its streams are created with: listings of one kind never show another. */
  readonly kind: string;
  /** What one of them is called in messages ("vCPU", "host profile"). */
  readonly noun: string;
  decide(command: C, state: S | undefined): E[];
  /** evolve over many events (undefined: nothing exists yet). */
  fold(state: S | undefined, events: Iterable<E>): S | undefined;
  /** Fold of stored payloads (their data still JSON text) onto a base state. */
  foldStored(base: S | undefined, payloads: EventPayload[]): S | undefined;
  serializeEvent(e: E): NewEvent;
  deserializeEvent(type: string, schemaVersion: number, data: unknown): E;
  serializeState(s: S): { schemaVersion: number; data: unknown };
  deserializeState(schemaVersion: number, data: unknown): S;
  /** The labels a listing filters on, when they changed between two states (else undefined). */
  labelsIfChanged(before: S | undefined, after: S): Record<string, string> | undefined;
  /** The accelerator whose names a refusal's registers take. */
  acceleratorOf(state: S | undefined, command: C): Accelerator | undefined;
}
