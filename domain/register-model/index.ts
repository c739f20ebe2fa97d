/**
 * QEMU's register model, measured (scripts/probe-register-model.sh, docs/register-model.md): per
 * QEMU version, binary, CPU model and machine, each register's kept bits, reset value and the
 * registers whose writes replace it.
 *
 *   registerModels(): RegisterModel[]                       // every measured model
 *   findRegisterModel({ qemu, cpu, binary?, machine? })     // exactly that one
 *   registerModelFor({ qemu, cpu, binary?, machine? })      // that one, ids it lacks from its siblings
 */
export {
  decodeModel,
  findRegisterModel,
  isMeasuredQemu,
  machineOptions,
  registerModelFor,
  registerModels,
} from './model';
export type { ModelQuery } from './model';
export type { GeneratedModel, QemuVersion, RegisterFact, RegisterModel, RegisterWriter } from './types';
export { QEMU_7_2_VERSION } from './qemu-7.2.generated';
export { QEMU_10_0_VERSION } from './qemu-10.0.generated';
