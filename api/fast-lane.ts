import type * as http from 'node:http';
import type { VcpuCommand } from '../domain/vcpu';
import { tokenFor } from './auth';
import { JSON_LIMIT } from './bodies';
import { answerOf, bodyText, isAdvised, type Render, type Rendered } from './command';
import { noteAnswer, type AppContext } from './context';
import { markHandedOver } from './handover';
import { bodyTimedOut } from './limits';
import { answerLogger, requestIdOf } from './logging';
import { metadataFromHeaders } from './request-meta';
import { asRegisterProblem, putCommand, written } from './routes/registers';
import { syncResultBytes } from './routes/syncs';
import { plainValueBody } from './plain-json';
import { quickSyncFromText } from './sync-quick';

/**
 * The two writes an agent sends all day — PUT of one register, a sync from the accelerator —
 * served below express when they are plain: no query, a JSON body of known length in UTF-8, no
 * condition, Idempotency-Key or preference, a write token (when tokens are on), and a body of
 * the plain shape. Every such request is answered exactly as the express app answers it (the
 * same command, service call, answer, headers, log line and metrics); anything else, and any
 * request the lane cannot finish (a body of another shape, a refused command, a slow body), is
 * handed to the app, with the body already read and the id it was given, and the app answers it.
 * Why: express's per-request work (router, middleware, response helpers) was most of these
 * writes' cost (bench/RESULTS.md).
 */
interface HotRoute {
  method: string;
  path: RegExp;
  /** The route's pattern, as the app's metrics name it. */
  route: string;
  /** The command of a plain body (throws as the route would), or undefined for another shape. */
  command: (text: string, params: RegExpExecArray) => VcpuCommand | undefined;
  render: Render;
  /** The route's own reading of the service's errors. */
  problem?: (e: unknown) => unknown;
}

// A segment without an escape: what express would decode is the text itself.
const HOT: readonly HotRoute[] = [
  {
    method: 'PUT',
    path: /^\/v1\/cpus\/([^/%?#]+)\/registers\/([^/%?#]+)$/,
    route: '/v1/cpus/:id/registers/:reg',
    command: (text, m) => {
      const value = plainValueBody(text);
      return value === undefined ? undefined : putCommand({ value }, m[2]!);
    },
    render: written,
    problem: asRegisterProblem,
  },
  {
    method: 'POST',
    path: /^\/v1\/cpus\/([^/%?#]+)\/syncs$/,
    route: '/v1/cpus/:id/syncs',
    command: (text) => quickSyncFromText(text),
    render: syncResultBytes,
  },
];

const JSON_TYPE = /^application\/json(?:; ?charset=utf-8)?$/i;
const DIGITS = /^\d{1,8}$/;

/** Headers the lane leaves to the app: conditions, keys, preferences, encodings, other framings. */
function plainHeaders(h: http.IncomingHttpHeaders): boolean {
  const type = h['content-type'];
  const length = h['content-length'];
  return (
    type !== undefined &&
    JSON_TYPE.test(type) &&
    length !== undefined &&
    DIGITS.test(length) &&
    Number(length) <= JSON_LIMIT &&
    h['transfer-encoding'] === undefined &&
    h['content-encoding'] === undefined &&
    h.expect === undefined &&
    h['if-match'] === undefined &&
    h['if-none-match'] === undefined &&
    h['idempotency-key'] === undefined &&
    h.prefer === undefined
  );
}

/** The express app with the lane in front of it. */
export function withFastLane(ctx: AppContext, app: http.RequestListener): http.RequestListener {
  const log = answerLogger(ctx.logger);
  const bodyMs = ctx.limits.bodyTimeoutMs;

  return (req, res) => {
    const started = performance.now();
    const hot = HOT.find((r) => r.method === req.method);
    const m = hot?.path.exec(req.url ?? '');
    if (!hot || !m || !plainHeaders(req.headers)) return app(req, res);
    const actor = actorOf(ctx, req.headers.authorization);
    if (actor === undefined) return app(req, res); // the app answers 401 or 403
    const requestId = requestIdOf(req.headers['x-request-id']);
    let metadata;
    try {
      metadata = metadataFromHeaders(req.headers, actor, requestId);
    } catch {
      return app(req, res); // a malformed header: the app's 400
    }
    res.setHeader('X-Request-Id', requestId);
    const handOver = (given: { body: string } | { error: unknown }) => {
      markHandedOver(req, { requestId, started, actor, route: hot.route, ...('error' in given ? given : {}) });
      if ('body' in given) (req as { body?: unknown }).body = given.body;
      app(req, res);
    };

    // in the app's order: X-Request-Id, the route's headers, then Content-Type and Content-Length
    const answer = (a: Rendered) => {
      // encoded once: its length and its bytes
      const body = a.bytes ? Buffer.from(a.bytes.buffer, a.bytes.byteOffset, a.bytes.length) : Buffer.from(bodyText(a));
      res.statusCode = a.status;
      for (const [k, v] of Object.entries(a.headers ?? {})) res.setHeader(k, v);
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Content-Length', body.length);
      res.once('finish', () => {
        const ms = performance.now() - started;
        noteAnswer(ctx, hot.route, req.method!, res.statusCode, ms);
        log({ requestId, method: req.method!, path: req.url!, status: res.statusCode, ms, actor });
      });
      res.end(body);
    };

    readBody(req, res, bodyMs, handOver, (text) => {
      let command: VcpuCommand | undefined;
      try {
        command = hot.command(text, m);
      } catch {
        command = undefined; // the app reads it again and answers the error its way
      }
      if (!command) return handOver({ body: text });
      const id = m[1]!;
      ctx.service
        .execute([{ streamId: id, command }], { metadata, answer: answerOf(hot.render, isAdvised(command)) })
        .then(
          (out) => {
            try {
              answer(out.answer);
            } catch (e) {
              // not expected (the answer is plain JSON); the app answers it as its own 500
              if (!res.headersSent) handOver({ error: e });
              else res.destroy(e as Error);
            }
          },
          (e: unknown) => handOver({ error: hot.problem ? hot.problem(e) : e }),
        );
    });
  };
}

/** Who may write: the token's name, 'anonymous' without tokens, undefined for anyone else. */
function actorOf(ctx: AppContext, authorization: string | undefined): string | undefined {
  if (!ctx.tokens) return 'anonymous';
  const entry = tokenFor(authorization, ctx.tokens);
  return entry?.role === 'write' ? entry.name : undefined;
}

/**
 * The body as the app's JSON text parser reads it (UTF-8, a leading BOM dropped), within the
 * body deadline; a body that does not arrive in time goes to the app as its 408.
 */
function readBody(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  ms: number,
  handOver: (given: { error: unknown }) => void,
  done: (text: string) => void,
): void {
  const chunks: Buffer[] = [];
  const timer = setTimeout(() => {
    if (!req.complete && !res.headersSent) handOver({ error: bodyTimedOut(ms) });
  }, ms);
  const stop = () => clearTimeout(timer);
  res.once('close', stop);
  req.on('data', (c: Buffer) => chunks.push(c));
  req.once('end', () => {
    stop();
    if (res.headersSent) return; // answered already (the deadline's 408)
    const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const text = buf.toString('utf8');
    done(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  });
}
