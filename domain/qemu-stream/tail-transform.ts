import { copyOf } from './bytes';
import { Finished, ReaderOptions, StreamReader } from './reader';
import type { StreamInfo } from './types';

/**
 * The streaming skeleton of the rewriter and the converter: the input is parsed by a
 * StreamReader; everything before the first device section (the configuration and RAM — nearly
 * all of a stream) is emitted unchanged as it is parsed (output chunks may be subarrays of input
 * chunks), and the device tail, which only the vmdesc at the very end lets anyone walk, is held
 * (bounded by `maxDeviceBytes`) and handed to `transformTail` at `end()`.
 * The chunks `push` returns may be views of the chunk just pushed: write them out before reusing
 * that buffer. Nothing keeps views of pushed chunks after `push` returns.
 */
export abstract class TailTransform {
  private readonly reader: StreamReader;
  private pending: Uint8Array[] = [];
  private pendingStart = 0;
  private result: StreamInfo | undefined;

  constructor(opts?: ReaderOptions) {
    this.reader = new StreamReader(opts);
  }

  /** Summary of the input stream (available after `end()`). */
  get info(): StreamInfo | undefined {
    return this.result;
  }

  /** The output for the parsed device tail (from `tailStart` to the end of the stream). */
  protected abstract transformTail(finished: Finished & { tail: Uint8Array }): Uint8Array[];

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
    const finished = this.reader.finish();
    const { info, tail, tailStart } = finished;
    const out = this.drain(tail ? tailStart : info.totalBytes);
    if (tail) out.push(...this.transformTail({ ...finished, tail }));
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
