import { DomainError } from '../errors';
import { copyOf, putBe64 } from './bytes';
import { ReaderOptions, StreamReader } from './reader';
import type { StreamInfo } from './types';

/**
 * Supplies the new cpreg values of one vCPU (same length as `values`). Receives copies. May throw
 * a DomainError to refuse the rewrite.
 */
export type CpregValuesRewrite = (instance: number, indexes: BigUint64Array, values: BigUint64Array) => BigUint64Array;

/**
 * Streaming transform: emits the input unchanged except each `cpu` section's
 * `cpreg_vmstate_values`. RAM (everything before the first device section) is passed through as
 * it is parsed (output chunks may be subarrays of input chunks); the device tail is held until
 * `end()`, because only the vmdesc at the very end tells where its fields are.
 * The chunks `push` returns may be views of the chunk just pushed: write them out before reusing
 * that buffer. The rewriter itself keeps no views of pushed chunks.
 */
export class StreamRewriter {
  private readonly reader: StreamReader;
  private pending: Uint8Array[] = [];
  private pendingStart = 0;
  private result: StreamInfo | undefined;

  constructor(
    private readonly rewrite: CpregValuesRewrite,
    opts?: ReaderOptions,
  ) {
    this.reader = new StreamReader(opts);
  }

  /** Summary of the input stream (available after `end()`). */
  get info(): StreamInfo | undefined {
    return this.result;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const wasTail = this.reader.tailStarted;
    this.reader.push(chunk);
    if (!wasTail) this.pending.push(chunk);
    const out = this.drain(this.reader.passThroughEnd);
    // What is left is at most a partial record header: copy it so the caller may reuse `chunk`
    // once it has written `out` (which does alias it).
    if (this.pending.length) this.pending = this.pending.map((c) => copyOf(c));
    return out;
  }

  end(): Uint8Array[] {
    const { info, tail, tailStart } = this.reader.finish();
    const out = this.drain(tail ? tailStart : info.totalBytes);
    if (tail) {
      for (const cpu of info.cpus) {
        const next = this.rewrite(cpu.instance, cpu.indexes.slice(), cpu.values.slice());
        if (!(next instanceof BigUint64Array) || next.length !== cpu.n) {
          throw new DomainError('invalid-value', `cpreg rewrite for cpu ${cpu.instance} must return ${cpu.n} values`);
        }
        const at = cpu.blockOffset - tailStart + 4 + 8 * cpu.n;
        for (let i = 0; i < cpu.n; i++) {
          if (next[i] !== cpu.values[i]) putBe64(tail, at + 8 * i, next[i]!);
        }
      }
      out.push(tail);
    }
    this.result = info;
    return out;
  }

  /** Emits pending input up to absolute offset `limit`; input past the tail start is the reader's. */
  private drain(limit: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (this.pending.length && this.pendingStart < limit) {
      const c = this.pending[0]!;
      const take = Math.min(c.length, limit - this.pendingStart);
      if (take === c.length) {
        out.push(c);
        this.pending.shift();
      } else {
        out.push(c.subarray(0, take));
        this.pending[0] = c.subarray(take);
      }
      this.pendingStart += take;
    }
    if (this.reader.tailStarted && this.pendingStart >= limit) this.pending = [];
    return out;
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
