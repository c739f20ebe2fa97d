import { DomainError } from '../errors';
import { putBe64 } from './bytes';
import { blockLayout } from './device-walk';
import type { Finished, ReaderOptions } from './reader';
import { TailTransform } from './tail-transform';
import type { CpuCpregBlock, StreamInfo } from './types';

/**
 * Supplies the new cpreg values of one vCPU: its value slots (`cpreg_vmstate_values`, same length
 * as `values`: N in a v22 section, M in a v23 one, where register i starts at slot
 * `cpu.valueIndexes[i]`). Receives copies. May throw a DomainError to refuse the rewrite.
 */
export type CpregValuesRewrite = (
  instance: number,
  indexes: BigUint64Array,
  values: BigUint64Array,
  cpu: Readonly<CpuCpregBlock>,
) => BigUint64Array;

/**
 * Streaming transform: emits the input unchanged except each `cpu` section's
 * `cpreg_vmstate_values` (v22 or v23 sections). RAM (everything before the first device section)
 * is passed through as it is parsed (output chunks may be subarrays of input chunks); the device
 * tail is held until `end()`, because only the vmdesc at the very end tells where its fields are.
 * The chunks `push` returns may be views of the chunk just pushed: write them out before reusing
 * that buffer. The rewriter itself keeps no views of pushed chunks.
 */
export class StreamRewriter extends TailTransform {
  constructor(
    private readonly rewrite: CpregValuesRewrite,
    opts?: ReaderOptions,
  ) {
    super(opts);
  }

  protected transformTail({ info, tail, tailStart }: Finished & { tail: Uint8Array }): Uint8Array[] {
    for (const cpu of info.cpus) {
      const next = this.rewrite(cpu.instance, cpu.indexes.slice(), cpu.values.slice(), cpu);
      if (!(next instanceof BigUint64Array) || next.length !== cpu.m) {
        throw new DomainError('invalid-value', `cpreg rewrite for cpu ${cpu.instance} must return ${cpu.m} values`);
      }
      const at = cpu.blockOffset - tailStart + blockLayout(cpu).values;
      for (let i = 0; i < cpu.m; i++) {
        if (next[i] !== cpu.values[i]) putBe64(tail, at + 8 * i, next[i]!);
      }
    }
    return [tail];
  }
}

/** Convenience: rewrite a whole stream given as chunks; returns the output chunks and the input summary. */
export function rewriteStream(
  chunks: Iterable<Uint8Array>,
  rewrite: CpregValuesRewrite,
  opts?: ReaderOptions,
): { output: Uint8Array[]; info: StreamInfo } {
  const rw = new StreamRewriter(rewrite, opts);
  const output: Uint8Array[] = [];
  for (const c of chunks) for (const o of rw.push(c)) output.push(o);
  for (const o of rw.end()) output.push(o);
  return { output, info: rw.info! };
}
