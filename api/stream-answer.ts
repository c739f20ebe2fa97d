import type { Request, Response } from 'express';
import { Refused } from '../app/errors';
import { DomainError } from '../domain/errors';
import type { AppContext } from './context';
import { domainProblem, HttpProblem } from './problem';
import { closeAfterAnswer, requestStream } from './stream-body';

/** A streaming transform of a QEMU stream (the rewriter, the converter). */
export interface StreamTransform {
  push(chunk: Uint8Array): Uint8Array[];
  end(): Uint8Array[];
}

export interface TransformAnswer {
  /** For the log line of an answer aborted after it started ("rewrite", "convert"). */
  what: string;
  /** The output has exactly the input's length (so a declared Content-Length can be sent early). */
  sameLength: boolean;
  /** The request's Content-Length, when it declared one. */
  declared: number | undefined;
  /** Runs once the whole body is in, before the transform's end (e.g. load the vCPUs). */
  beforeEnd?: () => Promise<void>;
}

/**
 * Answers a request stream through a transform, streamed with back-pressure: RAM passes through
 * as it is parsed; the cpu sections sit at the very end, so refusals are only known then. The
 * first `rewriteHoldBack` bytes of output are held back: a stream that fits is answered only
 * once it is wholly transformed (with a Content-Length, or a problem+json); a larger one starts
 * flowing, and a refusal at its end aborts the connection (logged), so no client takes a cut
 * answer for a whole stream.
 */
export async function answerTransformed(
  ctx: Pick<AppContext, 'logger' | 'streamLimit' | 'rewriteHoldBack' | 'limits' | 'metrics'>,
  req: Request,
  res: Response,
  transform: StreamTransform,
  o: TransformAnswer,
): Promise<void> {
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
      start(o.sameLength ? o.declared : undefined);
      const h = held;
      held = [];
      await write(h);
    }
  };
  try {
    for await (const chunk of requestStream(ctx, req)) await emit(transform.push(chunk));
    await o.beforeEnd?.();
    const tail = transform.end();
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
      e instanceof Refused
        ? domainProblem(e.error, e.accelerator, e.message)
        : e instanceof DomainError
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
      `qemu-stream ${o.what} aborted after the response started`,
    );
    res.destroy();
  }
}

/** Resolves when the answer can take more, rejects if the client goes away first. */
export function drained(res: Response): Promise<void> {
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
