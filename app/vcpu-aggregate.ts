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

export const vcpuAggregate: Aggregate<VcpuCommand, VcpuEvent, VcpuState> = {
  kind: 'vcpu',
  noun: 'vCPU',
  decide,
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
