import { Router, type Response } from 'express';
import { DomainError } from '../../domain/errors';
import { StreamConverter } from '../../domain/qemu-stream';
import { isBlobFormat } from '../../domain/vmstate/format';
import type { AppContext } from '../context';
import { badRequest, domainProblem, HttpProblem } from '../problem';
import { onlyQuery } from '../schemas';
import { checkStreamRequest, closeAfterAnswer, streamBody } from '../stream-body';

/**
 * `POST /v1/qemu-streams/convert?to=v23|v22`: the stream (application/octet-stream) with every
 * `cpu` section in the given cpreg layout (domain/qemu-stream StreamConverter: section versions,
 * the two cpreg fields, the vmdesc entry and length; nothing else). Stateless: it reads and
 * records nothing, so a read token may call it (api/auth.ts's list of reads must name it).
 *
 * Streamed like the rewrite (api/routes/qemu-streams.ts): the body is read as it arrives and RAM
 * is passed through as it is parsed, up to the stream limit; the cpu sections sit in the device
 * state at the very end, so refusals (not-representable: a register wider than 8 bytes to v22;
 * malformed-blob) are only known once the stream has ended. The first `rewriteHoldBack` bytes
 * of output (8 MiB) are held back: a stream that fits is answered only once it is fully
 * converted — with a Content-Length, or a problem+json — and a larger one starts flowing (200,
 * chunked: its length is only known at the end) and is aborted (`res.destroy()`, logged) if it
 * is refused at its end, so no client takes a cut answer for a whole stream.
 */
export function qemuConvertRoutes(ctx: Pick<AppContext, 'logger' | 'streamLimit' | 'rewriteHoldBack'>): Router {
  const r = Router();

  r.post('/v1/qemu-streams/convert', async (req, res) => {
    const q = onlyQuery(req.query, ['to']);
    if (q.to === undefined) throw badRequest('query parameter to is required: v23 or v22');
    const to = q.to;
    if (!isBlobFormat(to)) throw badRequest(`to must be v23 or v22, got ${JSON.stringify(to)}`);
    checkStreamRequest(req, ctx.streamLimit);
    const conv = new StreamConverter(to);

    let held: Buffer[] = [];
    let heldBytes = 0;
    let started = false;
    let sent = 0;
    const start = (length?: number) => {
      started = true;
      res.status(200).type('application/octet-stream');
      if (length !== undefined) res.set('Content-Length', String(length));
    };
    const write = async (chunks: Uint8Array[]) => {
      for (const c of chunks) {
        sent += c.length;
        if (!res.write(Buffer.from(c.buffer, c.byteOffset, c.length))) await drained(res);
      }
    };
    const emit = async (chunks: Uint8Array[]) => {
      if (started) return write(chunks);
      for (const c of chunks) {
        // Request chunks are fresh buffers never reused by Node, so views of them may be kept.
        held.push(Buffer.from(c.buffer, c.byteOffset, c.length));
        heldBytes += c.length;
      }
      if (heldBytes > ctx.rewriteHoldBack) {
        start();
        const h = held;
        held = [];
        await write(h);
      }
    };

    try {
      for await (const chunk of streamBody(req, ctx.streamLimit)) await emit(conv.push(chunk));
      const tail = conv.end();
      if (!started) {
        start(heldBytes + tail.reduce((n, c) => n + c.length, 0));
        const h = held;
        held = [];
        await write(h);
      }
      await write(tail);
      res.end();
    } catch (e) {
      if (!started) {
        closeAfterAnswer(req, res);
        throw e;
      }
      // Bytes are out: the only honest signal left is an incomplete transfer.
      const problem =
        e instanceof DomainError
          ? domainProblem(e)
          : e instanceof HttpProblem
            ? { status: e.status, detail: e.message }
            : { status: 500, detail: String(e) };
      ctx.logger.warn(
        {
          requestId: res.locals.requestId,
          path: req.path,
          sentBytes: sent,
          status: problem.status,
          detail: problem.detail,
        },
        'qemu-stream convert aborted after the response started',
      );
      res.destroy();
    }
  });

  return r;
}

/** Resolves when the answer can take more, rejects if the client goes away first. */
function drained(res: Response): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      res.off('drain', ok);
      res.off('close', closed);
      if (err) reject(err);
      else resolve();
    };
    const ok = () => done();
    const closed = () => done(new Error('the client closed the connection'));
    res.on('drain', ok);
    res.on('close', closed);
  });
}
