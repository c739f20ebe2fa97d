import { Router } from 'express';
import { StreamConverter } from '../../domain/qemu-stream';
import { isBlobFormat } from '../../domain/vmstate/format';
import type { AppContext } from '../context';
import { badRequest } from '../problem';
import { onlyQuery } from '../schemas';
import { answerTransformed } from '../stream-answer';
import { checkStreamRequest } from '../stream-body';

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
export function qemuConvertRoutes(
  ctx: Pick<AppContext, 'logger' | 'streamLimit' | 'rewriteHoldBack' | 'limits' | 'metrics'>,
): Router {
  const r = Router();

  r.post('/v1/qemu-streams/convert', async (req, res) => {
    const q = onlyQuery(req.query, ['to']);
    if (q.to === undefined) throw badRequest('query parameter to is required: v23 or v22');
    const to = q.to;
    if (!isBlobFormat(to)) throw badRequest(`to must be v23 or v22, got ${JSON.stringify(to)}`);
    checkStreamRequest(req, ctx.streamLimit);
    const conv = new StreamConverter(to);

    await answerTransformed(ctx, req, res, conv, {
      what: 'convert',
      sameLength: false,
      declared: undefined,
    });
  });

  return r;
}
