import type { NextFunction, Request, Response } from 'express';
import type * as http from 'node:http';
import type { Socket } from 'node:net';
import { HttpProblem, problemType } from './problem';

/** Routes whose bodies are QEMU migration streams (gigabytes, read as they come). */
export const isStreamUpload = (req: Request) => req.method === 'POST' && req.path.startsWith('/v1/qemu-streams/');

const hasBody = (req: Request) =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

export const busy = (what: string, retryAfter = 1) =>
  new HttpProblem(503, 'too-busy', 'Service busy', `${what}; try again shortly`, { retryAfter });

export const bodyTimedOut = (ms: number) =>
  new HttpProblem(408, 'request-timeout', 'Request timeout', `the body did not arrive within ${ms} ms`);

/**
 * A JSON or blob body must arrive within `ms`: a client trickling it is answered 408 and its
 * connection closed, so slow clients cannot hold sockets (stream uploads keep a minimum rate
 * instead: stream-body.ts).
 */
export function bodyDeadline(ms: number) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (isStreamUpload(req) || req.complete || !hasBody(req)) return next();
    const timer = setTimeout(() => {
      if (req.complete || res.headersSent) return;
      next(bodyTimedOut(ms));
    }, ms);
    const stop = () => clearTimeout(timer);
    req.once('end', stop);
    res.once('close', stop);
    next();
  };
}

/** At most `max` requests of a kind at once; beyond it a 503 with Retry-After, before any work. */
export function concurrencyCap(max: number, what: string, applies: (req: Request) => boolean) {
  let active = 0;
  return (req: Request, res: Response, next: NextFunction) => {
    if (!applies(req)) return next();
    if (active >= max) return next(busy(`${max} ${what} are being served`));
    active++;
    let done = false;
    res.once('close', () => {
      if (!done) active--;
      done = true;
    });
    next();
  };
}

/**
 * At most `max` open connections: the next one is answered 503 on the raw socket and closed,
 * before any request of it is parsed.
 */
export function capConnections(server: http.Server, max: number): void {
  let open = 0;
  const body = JSON.stringify({
    type: problemType('too-busy'),
    title: 'Service busy',
    status: 503,
    detail: `the service holds ${max} connections; try again shortly`,
  });
  server.on('connection', (socket: Socket) => {
    open++;
    socket.once('close', () => open--);
    if (open <= max) return;
    socket.end(
      'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/problem+json\r\n' +
        `Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
}
