import { DomainError } from '../domain/errors';
import { StreamRewriter } from '../domain/qemu-stream';
import { valuesForStreamBlock, type VcpuState } from '../domain/vcpu';
import { NotFoundError, refusing } from './errors';
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
export async function vmRewrite(queries: VcpuQueries, vm: string): Promise<VmRewrite> {
  const first = vcpuIdOf(vm, 0);
  if (!(await queries.version(first))) {
    throw new NotFoundError('vcpu-not-found', `no vCPU ${JSON.stringify(first)}: import the VM first (vm=${vm})`);
  }
  let states = new Map<number, { id: string; state: VcpuState }>();
  const transform = new StreamRewriter((instance, _indexes, _values, cpu) => {
    const id = vcpuIdOf(vm, instance);
    const s = states.get(instance);
    if (!s) throw new DomainError('vcpu-not-found', `no vCPU ${JSON.stringify(id)} for the stream's cpu ${instance}`);
    return refusing(s.state.accelerator, undefined, () => valuesForStreamBlock(id, s.state, cpu));
  });
  return {
    transform,
    loadStates: async () => {
      states = await queries.vmStates(vm);
    },
  };
}
