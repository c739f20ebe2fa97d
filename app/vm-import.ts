import { createHash } from 'crypto';
import type { Accelerator } from '../domain/accelerator';
import { DomainError } from '../domain/errors';
import { StreamReader, type StreamInfo } from '../domain/qemu-stream';
import type { StreamOrigin, VcpuCommand, VcpuState } from '../domain/vcpu';
import type { MetadataInput } from '../storage/event-store';
import type { Executed } from './command-handler';
import type { VcpuCommands, VcpuDecided } from './vcpu-aggregate';
import { sha256Hex } from './migration';

/** A VM's vCPUs are `<vm>.cpu<N>`, N being QEMU's cpu_index (the cpu section's instance id). */
export const vcpuIdOf = (vm: string, instance: number) => `${vm}.cpu${instance}`;

/** Reads a whole stream from its chunks (RAM pages are skipped as they come, never buffered). */
export async function readStream(chunks: AsyncIterable<Uint8Array>, onChunk?: (c: Uint8Array) => void) {
  const reader = new StreamReader();
  for await (const chunk of chunks) {
    onChunk?.(chunk);
    reader.push(chunk);
  }
  return reader.end();
}

export interface VmImportRequest<A> {
  vm: string;
  /** The accelerator of vCPUs created by the import (an existing vCPU keeps its own). */
  accelerator: Accelerator;
  /** Labels of vCPUs the import creates, beside the ones it sets itself (see originLabels). */
  labels?: Record<string, string>;
  chunks: AsyncIterable<Uint8Array>;
  metadata: MetadataInput;
  /** `requestPrefix` is what identifies the request besides its body (method, URL, type). */
  idempotency?: { key: string; requestPrefix: string };
  answer: (info: StreamInfo, decided: readonly VcpuDecided[]) => A;
}

/**
 * The labels an import gives a vCPU it creates: its VM and what the stream said of it, so that
 * `?label=vm=web1` or `?label=qemu.machine=virt-7.2` finds it.
 */
export function originLabels(vm: string, o: StreamOrigin): Record<string, string> {
  return {
    vm,
    ...(o.machine === null ? {} : { 'qemu.machine': o.machine }),
    'qemu.page-size': String(o.pageSize),
    'qemu.cpu-index': String(o.cpuIndex),
  };
}

/**
 * Imports every vCPU of a QEMU migration stream: a vCPU the service lacks is created from its
 * block, an existing one loads it (QEMU's merge rules). All of them or none: one refusal, named
 * by its vCPU, records nothing. An Idempotency-Key covers the whole stream.
 */
export async function importVm<A>(commands: VcpuCommands, req: VmImportRequest<A>): Promise<Executed<A>> {
  const hash = req.idempotency && createHash('sha256').update(req.idempotency.requestPrefix);
  const info = await readStream(req.chunks, hash && ((c) => hash.update(c)));
  if (info.cpus.length === 0) throw new DomainError('malformed-blob', 'the stream has no cpu sections');
  const requestHash = hash?.digest('hex');
  return commands.execute(
    info.cpus.map((cpu) => {
      const format = cpu.format;
      const sha256 = sha256Hex(cpu.block);
      const origin: StreamOrigin = { machine: info.machine, pageSize: info.pageSize, cpuIndex: cpu.instance };
      const labels = { ...req.labels, ...originLabels(req.vm, origin) };
      return {
        streamId: vcpuIdOf(req.vm, cpu.instance),
        named: true,
        command: (before: VcpuState | undefined): VcpuCommand =>
          before
            ? { type: 'LoadBlob', format, blob: cpu.block, sha256, origin }
            : {
                type: 'CreateVcpuFromBlob',
                accelerator: req.accelerator,
                format,
                blob: cpu.block,
                sha256,
                origin,
                labels,
              },
      };
    }),
    {
      metadata: req.metadata,
      ...(req.idempotency && requestHash ? { idempotency: { key: req.idempotency.key, requestHash } } : {}),
      answer: (decided) => req.answer(info, decided),
    },
  );
}
