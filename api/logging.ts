import { randomUUID } from 'crypto';
import * as fs from 'fs';
import type { NextFunction, Request, Response } from 'express';
import pino from 'pino';
import { handedOver } from './handover';
import { HEADER_ID } from './request-meta';

export type Logger = pino.Logger;

/**
 * JSON lines on stdout, written asynchronously in chunks of up to 64 KiB so logging never sits
 * on a request's path (the durable record is the event store, not the log); a line waits at most
 * 100 ms. logger.flush() writes what is buffered; whatever is left is written at exit.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const dest = destination ?? (level === 'silent' ? undefined : new LineWriter(1));
  const logger = pino({ level, base: { service: SERVICE }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  if (dest) destinations.set(logger, dest);
  return logger;
}

const SERVICE = 'cpreg-ledger';
/** Where each logger made here writes: the per-request line goes there directly (see requestLine). */
const destinations = new WeakMap<Logger, pino.DestinationStream>();

/**
 * The destination: lines appended to a list and written with one fs.write when the previous
 * write is done and 16 KiB are waiting, or 100 ms after the first waiting line; whole lines, in
 * order. A failed write (a closed stdout) drops what it carried: the log is not the record.
 */
export class LineWriter implements pino.DestinationStream {
  private parts: string[] = [];
  private waiting = 0;
  private writing = false;
  private timer: NodeJS.Timeout | undefined;
  private flushed: Array<() => void> = [];

  constructor(
    private readonly fd: number,
    private readonly minLength = 16 * 1024,
  ) {
    process.once('exit', () => this.flushSync());
  }

  write(line: string): boolean {
    this.parts.push(line);
    this.waiting += line.length;
    if (!this.writing) {
      if (this.waiting >= this.minLength) this.writeSome();
      else this.timer ??= setTimeout(() => this.writeSome(), 100).unref();
    }
    return true;
  }

  /** Writes everything waiting; `done` once it is written. */
  flush(done?: (err?: Error) => void): void {
    if (done) this.flushed.push(() => done());
    if (!this.writing) this.writeSome();
  }

  /** At exit (no event loop any more): everything waiting, synchronously. */
  flushSync(): void {
    if (!this.parts.length) return;
    const buf = Buffer.from(this.take(), 'utf8');
    try {
      for (let off = 0, tries = 0; off < buf.length && tries < 1000; tries++) {
        try {
          off += fs.writeSync(this.fd, buf, off);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        }
      }
    } catch {
      /* stdout is gone */
    }
  }

  private take(): string {
    const text = this.parts.length === 1 ? this.parts[0]! : this.parts.join('');
    this.parts = [];
    this.waiting = 0;
    return text;
  }

  private writeSome(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.parts.length) {
      const done = this.flushed.splice(0);
      for (const f of done) f();
      return;
    }
    this.writing = true;
    this.writeBuffer(Buffer.from(this.take(), 'utf8'), 0);
  }

  private writeBuffer(buf: Buffer, off: number): void {
    fs.write(this.fd, buf, off, buf.length - off, null, (err, n) => {
      if (err && err.code === 'EAGAIN') {
        setTimeout(() => this.writeBuffer(buf, off), 10).unref();
        return;
      }
      if (!err && off + n < buf.length) return this.writeBuffer(buf, off + n);
      this.writing = false;
      if (this.waiting >= this.minLength || this.flushed.length) this.writeSome();
      else if (this.parts.length) this.timer ??= setTimeout(() => this.writeSome(), 100).unref();
    });
  }
}

const INFO = 30;

/** The client's X-Request-Id when it is sane, else a fresh one. */
export function requestIdOf(given: string | string[] | undefined): string {
  return typeof given === 'string' && HEADER_ID.test(given) ? given : randomUUID();
}

/** Told of every answer once it is sent, with its duration (metrics, readiness). */
export type Answered = (req: Request, res: Response, ms: number) => void;

/** What one request's log line says. Never headers or bodies: they may carry tokens. */
export interface AnswerLine {
  requestId: string;
  method: string;
  path: string;
  status: number;
  ms: number;
  actor: unknown;
  /** A refusal's line says which problem and why. */
  problem?: { type: string; detail: string } | undefined;
}

/** Writes the one line per answer (the express app's and the fast lane's, api/fast-lane.ts). */
export function answerLogger(logger: Logger): (line: AnswerLine) => void {
  const dest = destinations.get(logger);
  return ({ requestId, method, path, status, ms, actor, problem }) => {
    if (logger.levelVal > INFO) return; // (isLevelEnabled looks the level up by name: the hot path's cost)
    if (problem) {
      logger.info(
        { requestId, method, path, status, ms, actor, problem: problem.type, detail: problem.detail },
        'request',
      );
      return;
    }
    if (dest && (actor === undefined || typeof actor === 'string')) {
      dest.write(requestLine(requestId, method, path, status, ms, actor));
      return;
    }
    logger.info({ requestId, method, path, status, ms, actor }, 'request');
  };
}

/**
 * A request id per request (the client's X-Request-Id when it is sane), and one log line per
 * answer; `answered` is told of it from the same 'finish' listener (one listener per request).
 * A request the fast lane handed over keeps the id and start time the lane gave it.
 */
export function requestContext(logger: Logger, answered?: Answered) {
  const log = answerLogger(logger);
  return (req: Request, res: Response, next: NextFunction) => {
    const handed = handedOver(req);
    const requestId = handed?.requestId ?? requestIdOf(req.headers['x-request-id']);
    res.locals.requestId = requestId;
    if (handed) res.locals.actor = handed.actor;
    res.setHeader('X-Request-Id', requestId);
    const started = handed?.started ?? performance.now();
    res.once('finish', () => {
      const ms = performance.now() - started;
      answered?.(req, res, ms);
      // the error handler leaves a refusal's problem in res.locals
      const problem = res.locals.problem as AnswerLine['problem'];
      log({
        requestId,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms,
        actor: res.locals.actor,
        problem,
      });
    });
    next();
  };
}

/**
 * The line pino writes for logger.info({requestId, method, path, status, ms, actor}, 'request'),
 * made directly (the one line per request is the logger's hottest path): level 30, ISO time, the
 * base fields, the fields, msg; an undefined actor left out, as pino leaves it.
 */
function requestLine(requestId: string, method: string, path: string, status: number, ms: number, actor?: string) {
  return (
    `{"level":30,"time":"${new Date().toISOString()}","service":"${SERVICE}","requestId":${JSON.stringify(requestId)},` +
    `"method":${JSON.stringify(method)},"path":${JSON.stringify(path)},"status":${status},"ms":${ms}` +
    (actor === undefined ? '' : `,"actor":${JSON.stringify(actor)}`) +
    ',"msg":"request"}\n'
  );
}
