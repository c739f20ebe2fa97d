import type { Request } from 'express';
import type { AppContext } from './context';
import { registerInfos } from '../domain/names';
import { cpuArrays, type StreamInfo } from '../domain/qemu-stream';
import { readValueAt } from '../domain/cpreg-arrays';
import { formatRegId } from '../domain/regid';
import { formatValue } from '../domain/values';
import { HttpProblem, unsupportedMediaType } from './problem';

/**
 * Request bodies that are QEMU migration streams (gigabytes): read as they arrive, never buffered
 * whole, with their own limit. Not express.raw: the routes iterate the request themselves.
 */

const tooLarge = (limit: number, what: string) =>
  new HttpProblem(
    413,
    'payload-too-large',
    'Payload too large',
    `${what} exceeds the limit of ${limit} bytes for QEMU streams`,
  );

/**
 * Checks what can be checked before reading: the content type (415) and a Content-Length above
 * the limit (413). Call before anything else is done with the request.
 */
export function checkStreamRequest(req: Request, limit: number): number | undefined {
  if (!req.is('application/octet-stream')) {
    throw unsupportedMediaType(`${req.method} ${req.path} takes application/octet-stream (a QEMU migration stream)`);
  }
  const cl = req.get('content-length');
  if (cl !== undefined && /^\d+$/.test(cl)) {
    const n = Number(cl);
    if (n > limit) throw tooLarge(limit, `the stream (Content-Length ${n})`);
    return n;
  }
  return undefined;
}

/**
 * The request body chunk by chunk; 413 as soon as more than `limit` bytes have come. A client
 * that goes away mid-body ends the iteration with an error (the route's promise rejects; nothing
 * is answered to a closed socket).
 */
export async function* streamBody(
  req: Request,
  limit: number,
  rate: { minRate: number; windowMs: number; onBytes?: (n: number) => void } = { minRate: 0, windowMs: 30_000 },
): AsyncGenerator<Buffer> {
  const { minRate, windowMs, onBytes } = rate;
  let total = 0;
  // A minimum rate over each 30 s window, not a total time: a multi-GB upload may take hours.
  let windowStart = 0;
  // Not Promise.race against one long-lived promise: every race would stay attached to it, and
  // keep its chunk alive. The wait in progress, if any, is woken through `wake`.
  let tooSlow: HttpProblem | undefined;
  let wake: ((e: unknown) => void) | undefined;
  const rateCheck =
    minRate > 0
      ? setInterval(() => {
          if (total - windowStart < minRate * (windowMs / 1000)) {
            tooSlow = slow();
            wake?.(tooSlow);
          }
          windowStart = total;
        }, windowMs)
      : undefined;
  const nextChunk = (it: AsyncIterator<Buffer>) =>
    new Promise<IteratorResult<Buffer>>((resolve, reject) => {
      if (tooSlow) return reject(tooSlow);
      wake = reject;
      it.next().then(resolve, reject);
    }).finally(() => (wake = undefined));
  const cutOff = () =>
    new HttpProblem(
      400,
      'bad-request',
      'Malformed request',
      `the request body was cut off after ${total} bytes (the client went away)`,
    );
  const slow = () =>
    new HttpProblem(
      408,
      'request-timeout',
      'Request timeout',
      `the stream arrived slower than ${minRate} bytes/s over ${windowMs / 1000} s (${total} bytes in)`,
    );
  const it = (req as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await nextChunk(it);
      } catch (e) {
        if (e instanceof HttpProblem) throw e; // too slow: answered, then the connection is closed
        throw cutOff(); // 'aborted' (ECONNRESET): not a fault of ours
      }
      if (next.done) break;
      const chunk = next.value;
      total += chunk.length;
      onBytes?.(chunk.length);
      if (total > limit) throw tooLarge(limit, 'the stream'); // the rest stays unread: closeAfterAnswer
      yield chunk;
    }
    if (!req.complete) throw cutOff();
  } finally {
    clearInterval(rateCheck);
  }
}

/** After a refusal with part of the body unread: answer, then close (do not drain gigabytes). */
export function closeAfterAnswer(req: Request, res: { set: (k: string, v: string) => unknown }): void {
  if (!req.complete) res.set('Connection', 'close');
}

// The answers made of a stream (shared with the CLI, which must not load express).

export { vcpuIdOf } from '../app/vm-import';

/** The inspection answer (also what `cpreg inspect --json` prints). */
export function inspectionView(info: StreamInfo) {
  return {
    machine: info.machine,
    pageSize: info.pageSize,
    cpus: info.cpus.map((c) => {
      const arrays = cpuArrays(c);
      return {
        instance: c.instance,
        version: c.version,
        format: c.format,
        arrayLen: c.n,
        valueArrayLen: c.m,
        registers: registerInfos(c.indexes, 'tcg').map((info, i) => ({
          id: formatRegId(c.indexes[i]!),
          name: info.name,
          generic: info.generic,
          value: formatValue(c.indexes[i]!, readValueAt(arrays, i)),
        })),
      };
    }),
  };
}

/** A stream route's body, with the service's limits (size, minimum rate) and its bytes counted. */
export function requestStream(
  ctx: Pick<AppContext, 'streamLimit' | 'limits' | 'metrics'>,
  req: Request,
): AsyncGenerator<Buffer> {
  const route = req.path;
  return streamBody(req, ctx.streamLimit, {
    minRate: ctx.limits.streamMinRate,
    windowMs: ctx.limits.streamRateWindowMs,
    onBytes: (n) => ctx.metrics.streamBytes.inc({ route }, n),
  });
}
