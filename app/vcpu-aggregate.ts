import {
  decide,
  deserializeEvent,
  deserializeState,
  foldEvents,
  foldSerialized,
  labelsOf,
  serializeEvent,
  serializeState,
  type VcpuCommand,
  type VcpuEvent,
  type VcpuState,
} from '../domain/vcpu';
import type { Aggregate } from './aggregate';
import { nativeDigest } from './report-digest';
import type { Command, CommandHandler, Decided } from './command-handler';
import type { States } from './states';

/** Reports hashed by node:crypto (the same digest as the domain's own SHA-256). */
const DECIDE = { digest: nativeDigest };

export const vcpuAggregate: Aggregate<VcpuCommand, VcpuEvent, VcpuState> = {
  kind: 'vcpu',
  noun: 'vCPU',
  decide: (command, state) => decide(command, state, DECIDE),
  fold: foldEvents,
  foldStored: foldSerialized,
  serializeEvent,
  deserializeEvent,
  serializeState,
  deserializeState,
  labelsIfChanged: (before, after) => (!before || before.labels !== after.labels ? labelsOf(after) : undefined),
  acceleratorOf: (state, c) =>
    state?.accelerator ?? (c.type === 'CreateVcpu' || c.type === 'CreateVcpuFromBlob' ? c.accelerator : undefined),
};

export type VcpuStates = States<VcpuCommand, VcpuEvent, VcpuState>;
export type VcpuCommands = CommandHandler<VcpuCommand, VcpuEvent, VcpuState>;
/** What deciding a command on one vCPU gave. */
export type VcpuDecided = Decided<VcpuEvent, VcpuState>;
export type VcpuCommandOn = Command<VcpuCommand, VcpuState>;
