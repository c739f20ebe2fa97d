import { DomainError } from '../domain/errors';
import { StreamRewriter } from '../domain/qemu-stream';
import { valuesForStreamBlock, type VcpuState } from '../domain/vcpu';
import { predictLoad } from '../domain/compatibility';
import { layoutArrays } from '../domain/cpreg-arrays';
import type { CpuCpregBlock } from '../domain/qemu-stream';
import { NotFoundError, QemuWouldRefuseError, refusing } from './errors';
import { vcpuDestination } from './vcpu-compatibility';
import type { VcpuQueries } from './vcpu-queries';
import { vcpuIdOf } from './vm-import';

export interface VmRewrite {
  /** The streaming transform: the stream with every cpu block's values replaced by the vCPU's. */
  transform: StreamRewriter;
  /** Call once the whole stream is in, before the transform's end: the vCPUs as they are then. */
  loadStates: () => Promise<void>;
}

/**
 * A rewrite of a VM's QEMU stream with the values the service holds for `<vm>.cpu<N>`. A missing
 * VM is refused before any byte is read; the vCPUs are read when the whole stream is in, so the
 * blocks (at the very end of the stream) get the values of that moment.
 */
export async function vmRewrite(
  queries: VcpuQueries,
  vm: string,
  opts: { lenient?: boolean } = {},
): Promise<VmRewrite> {
  const first = vcpuIdOf(vm, 0);
  if (!(await queries.version(first))) {
    throw new NotFoundError('vcpu-not-found', `no vCPU ${JSON.stringify(first)}: import the VM first (vm=${vm})`);
  }
  let states = new Map<number, { id: string; state: VcpuState }>();
  const transform = new StreamRewriter((instance, _indexes, _values, cpu) => {
    const id = vcpuIdOf(vm, instance);
    const s = states.get(instance);
    if (!s) throw new DomainError('vcpu-not-found', `no vCPU ${JSON.stringify(id)} for the stream's cpu ${instance}`);
    const next = refusing(s.state.accelerator, undefined, () => valuesForStreamBlock(id, s.state, cpu));
    if (!opts.lenient) refuseWhatQemuRefuses(id, s.state, cpu, next);
    return next;
  });
  return {
    transform,
    loadStates: async () => {
      states = await queries.vmStates(vm);
    },
  };
}

/**
 * The stream's own QEMU (the model its cpu block identifies, with the vCPU's labels as hints) loading
 * the rewritten block: a value it would refuse refuses the rewrite (409), before any byte is out
 * when the stream is within the hold-back. `Prefer: handling=lenient` writes it anyway.
 */
function refuseWhatQemuRefuses(id: string, state: VcpuState, cpu: Readonly<CpuCpregBlock>, next: BigUint64Array): void {
  const own = layoutArrays(cpu.indexes);
  const incoming = { ...own, cpregValues: next };
  const destination = { ...own, cpregValues: cpu.values };
  const v = predictLoad(incoming, vcpuDestination(state, destination));
  if (v.verdict === 'accepted') return;
  const reasons = v.reasons;
  throw new QemuWouldRefuseError(
    id,
    state.accelerator,
    state,
    reasons,
    `${id}: the stream's QEMU would refuse the rewritten cpu ${cpu.instance}: ${reasons.map((f) => f.message).join('; ')} ` +
      '(nothing was written; Prefer: handling=lenient writes it anyway)',
  );
}
