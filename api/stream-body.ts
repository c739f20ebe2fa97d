import type { Request } from 'express';
import { registerName } from '../domain/names';
import type { StreamInfo } from '../domain/qemu-stream';
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
export async function* streamBody(req: Request, limit: number): AsyncGenerator<Buffer> {
  let total = 0;
  const cutOff = () =>
    new HttpProblem(
      400,
      'bad-request',
      'Malformed request',
      `the request body was cut off after ${total} bytes (the client went away)`,
    );
  const it = (req as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await it.next();
    } catch {
      throw cutOff(); // 'aborted' (ECONNRESET): not a fault of ours
    }
    if (next.done) break;
    const chunk = next.value;
    total += chunk.length;
    if (total > limit) throw tooLarge(limit, 'the stream'); // the rest stays unread: closeAfterAnswer
    yield chunk;
  }
  if (!req.complete) throw cutOff();
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
    cpus: info.cpus.map((c) => ({
      instance: c.instance,
      version: c.version,
      arrayLen: c.n,
      registers: Array.from(c.indexes, (id, i) => ({
        id: formatRegId(id),
        name: registerName(id, 'tcg'),
        value: formatValue(id, c.values[i]!),
      })),
    })),
  };
}
