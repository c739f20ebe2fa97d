/**
 * Will it load? A pure prediction of QEMU's cpu_post_load verdict from the register model measured
 * by scripts/probe-register-model.ts (docs/register-model.md):
 *
 *   predictLoad(incoming: CpregArrays, destination: Destination | PreparedDestination): LoadVerdict
 *   prepareDestination(destination): PreparedDestination    // compile once for many verdicts
 *   writeWarnings(vcpu: VcpuRegisters, writes: RegisterWrites, opts?): CompatibilityFinding[]
 *   fingerprintModels(arrays, { qemu?, binary? }): RegisterModel[]
 *   identifyModel(arrays, { qemu?, cpu?, binary?, machineType? }): RegisterModel | undefined
 *   destinationFor({ accelerator, arrays, qemu?, cpuModel?, machineType?, writableMasks? }): Destination
 *   vcpuHost(accelerator, labels, arrays): HostDescription   // a vCPU's own QEMU, from its labels
 *   describeFinding(finding): string
 */
export { predictLoad, prepareDestination, describeFinding } from './verdict';
export type { VerdictOptions } from './verdict';
export type { PreparedDestination } from './verdict';
export { writeWarnings, type WriteWarningOptions } from './writes';
export { fingerprintModels } from './fingerprint';
export { asFreshQemuHoldsThem, destinationFor, hostModel, vcpuHost } from './destination';
export type { HostDescription } from './destination';
export type {
  CompatibilityFinding,
  CompatibilityRule,
  Destination,
  FindingBasis,
  LoadVerdict,
  RegisterFinding,
  RegisterWrites,
  VcpuRegisters,
} from './types';
export { identifyModel, inferMachineOptions } from './identify';
export type { ModelHints } from './identify';
